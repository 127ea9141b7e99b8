import type { Kysely } from 'kysely';

/**
 * `environment_logs`: edge access and error lines per environment, kept 24 h (packages/control/src/logs,
 * docs/logs.md). `id` is time-ordered (`log_` + ms + counter + random, logs/ids.ts): id order is
 * arrival order, the list cursor and the SSE event id. `at` is the request's time (epoch ms, the edge's
 * clock clamped to the control plane's). The searched fields are columns (`status`, `method`, `path`,
 * `ua`, `message`); everything else of the line is `line` (JSON). Bounded on insert (logs/store.ts):
 * nothing older than 24 h, and per environment at most the newest 50,000 access and 10,000 error lines.
 * Deleting an environment deletes its lines.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('environment_logs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('status', 'integer')
    .addColumn('method', 'text')
    .addColumn('path', 'text')
    .addColumn('ua', 'text')
    .addColumn('message', 'text')
    .addColumn('line', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('environment_logs_env_idx').on('environment_logs').columns(['environment_id', 'id']).execute();
  await db.schema
    .createIndex('environment_logs_kind_idx')
    .on('environment_logs')
    .columns(['environment_id', 'kind', 'id'])
    .execute();
  await db.schema
    .createIndex('environment_logs_status_idx')
    .on('environment_logs')
    .columns(['environment_id', 'status'])
    .execute();
  await db.schema.createIndex('environment_logs_at_idx').on('environment_logs').columns(['at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('environment_logs').ifExists().execute();
}
