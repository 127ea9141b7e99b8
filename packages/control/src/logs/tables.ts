import type { Kysely, Transaction } from 'kysely';
import type { DB } from '../store/schema.ts';

/** A row of `environment_logs` (migrations 008, 009). `line`: JSON of the fields that are not columns. */
export interface EnvironmentLogsTable {
  id: string;
  environment_id: string;
  /** epoch ms (bigint: PostgreSQL answers it as a string) */
  at: number | string;
  kind: string;
  /** edge | nginx | php (migration 009; a default, so inserts may leave it out). */
  source: string;
  status: number | null;
  method: string | null;
  path: string | null;
  ua: string | null;
  message: string | null;
  line: string;
}

export type LogTables = { environment_logs: EnvironmentLogsTable };

/** The store's handle typed with the logs table (kept here, next to its only users). */
export function logsDb(db: Kysely<DB>): Kysely<DB & LogTables> {
  return db.withTables<LogTables>() as unknown as Kysely<DB & LogTables>;
}

export function logsTrx(trx: Transaction<DB>): Transaction<DB & LogTables> {
  return trx.withTables<LogTables>() as unknown as Transaction<DB & LogTables>;
}
