import type { Kysely } from 'kysely';

/**
 * Backups (issue 6).
 *
 * `jobs.server_id`: a job that must run ON an app server (backup, restore, clone, sync) names
 * it; that server's agent claims it through the agent protocol (routes/agents/jobs.ts) and the
 * control plane's own workers never do (they claim only `server_id IS NULL`).
 *
 * `backups`: one row per backup = two restic snapshots (restic 0.14 can't put stdin and paths in
 * one): `db.sql` streamed from mariadb-dump, and the files (wp-content + environment.json), both
 * tagged `backup=<id>`. Written only when the agent's job completes with the snapshot ids restic
 * printed — a snapshot is listed only after restic confirmed it. The ids of
 * the site/environment are plain columns (no foreign key, names copied): a `pre-delete`
 * snapshot must outlive its environment. `state` is `available` or `pruned` (removed by a
 * retention run; kept for the record).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('jobs').addColumn('server_id', 'text').execute();
  await db.schema
    .createTable('backups')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('site_id', 'text', (c) => c.notNull())
    .addColumn('environment_id', 'text', (c) => c.notNull())
    .addColumn('site_name', 'text', (c) => c.notNull())
    .addColumn('environment_name', 'text', (c) => c.notNull())
    .addColumn('server_id', 'text', (c) => c.notNull())
    .addColumn('db_snapshot_id', 'text')
    .addColumn('files_snapshot_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('job_id', 'text')
    .addColumn('db_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('files_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('added_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('snapshot_time', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('backups_env_idx').on('backups').columns(['environment_id', 'snapshot_time']).execute();
  await db.schema
    .createIndex('backups_snapshot_idx')
    .on('backups')
    .columns(['server_id', 'files_snapshot_id'])
    .unique()
    .execute();
  await db.schema.createIndex('jobs_server_idx').on('jobs').columns(['server_id', 'state']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('backups').ifExists().execute();
  await db.schema.dropIndex('jobs_server_idx').ifExists().execute();
  await db.schema.alterTable('jobs').dropColumn('server_id').execute();
}
