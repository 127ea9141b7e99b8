import type { Kysely } from 'kysely';

/**
 * `edge_purges`: cache purges on their way to every edge (POST /environments/{id}/purge),
 * carried in the edge snapshot. `seq` is contiguous platform-wide (the insert takes max + 1
 * after bumping the revision row, which serialises purges on both dialects). No foreign key to
 * environments on purpose: deleting an environment must not open a gap in the sequence (an
 * edge would read a gap as "missed purges" and drop its whole cache). Rows are pruned on insert
 * (desired/purges.ts), so the table stays small.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('edge_purges')
    .addColumn('seq', 'bigint', (c) => c.primaryKey())
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('environment_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('purge_values', 'text', (c) => c.notNull())
    .addColumn('value_count', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('actor_id', 'text')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('edge_purges').ifExists().execute();
}
