import type { Kysely } from 'kysely';

/**
 * `waf_events`: requests an edge's WAF refused or logged rules for, posted by edges
 * (POST /edge/waf-events) and read per environment (GET /environments/{id}/waf/events).
 * `id` is time-ordered (newSortableId), so id order is arrival order and the cursor. `rule_ids`
 * is `,942100,949110,` for the rule filter (a LIKE on the environment's bounded rows); `rules`
 * the JSON [{id, msg}]. Retention is bounded on insert (api/routes/edge/waf-events.ts): per environment
 * the newest 10,000 events of the last 30 days. Deleting an environment deletes its events.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('waf_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
    .addColumn('edge_server_id', 'text')
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addColumn('event_time', 'text', (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('client_ip', 'text', (c) => c.notNull())
    .addColumn('method', 'text', (c) => c.notNull())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('uri', 'text', (c) => c.notNull())
    .addColumn('status', 'integer', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('anomaly_score', 'integer', (c) => c.notNull())
    .addColumn('outbound_anomaly_score', 'integer', (c) => c.notNull())
    .addColumn('rule_ids', 'text', (c) => c.notNull())
    .addColumn('rules', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('waf_events_env_idx').on('waf_events').columns(['environment_id', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('waf_events').ifExists().execute();
}
