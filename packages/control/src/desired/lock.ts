import { sql, type Transaction } from 'kysely';
import type { DB } from '../store/schema.ts';
import type { Dialect } from '../store/store.ts';

/**
 * Serialize desired-state allocation (placement, ports, Unix users, uid slots). On PostgreSQL
 * the single `state_revision` row is locked FOR UPDATE, so concurrent provisioning jobs and
 * API calls take turns; bumpRevision's UPDATE takes the same lock. SQLite write transactions
 * already run one at a time (BEGIN IMMEDIATE), so nothing is needed there.
 */
export async function lockDesiredState(trx: Transaction<DB>, dialect: Dialect): Promise<void> {
  if (dialect === 'postgres') await sql`select revision from state_revision where id = 1 for update`.execute(trx);
}
