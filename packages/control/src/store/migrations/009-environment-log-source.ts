import type { Kysely } from 'kysely';

/**
 * `environment_logs.source`: who wrote a line — `edge` (every line before this migration), `nginx` or
 * `php` (a site pod's error logs, shipped by the app server's agent; docs/logs.md). Error lines are
 * capped per source (logs/store.ts), so a PHP warning on every request never pushes the edge's
 * upstream errors out; the index serves that cut and searches filtered by source.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('environment_logs')
    .addColumn('source', 'text', (c) => c.notNull().defaultTo('edge'))
    .execute();
  await db.schema
    .createIndex('environment_logs_source_idx')
    .on('environment_logs')
    .columns(['environment_id', 'source', 'kind', 'id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('environment_logs_source_idx').ifExists().execute();
  await db.schema.alterTable('environment_logs').dropColumn('source').execute();
}
