import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { TriplaneError } from '@triplane/kernel';
import Database from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  Kysely,
  PostgresDialect,
  SqliteDialect,
  SqliteDriver,
  sql,
  type Transaction,
} from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { migrationProvider } from './migrations/index.ts';
import type { DB } from './schema.ts';

export type Dialect = 'sqlite' | 'postgres';

export interface StoreOptions {
  /** `postgres://…` selects PostgreSQL; otherwise SQLite at `<dataDir>/triplane.db`. */
  databaseUrl?: string | undefined;
  dataDir?: string | undefined;
  /** SQLite file path (overrides dataDir); ':memory:' for throwaway tests. */
  sqlitePath?: string | undefined;
  /** Postgres pool size. */
  poolSize?: number;
}

/**
 * The control-plane store: a Kysely handle over SQLite (default, one WAL file) or
 * PostgreSQL. Write transactions on SQLite start with BEGIN IMMEDIATE so that two
 * processes (API and job workers) never deadlock upgrading a read lock.
 */
export interface Store {
  readonly db: Kysely<DB>;
  readonly dialect: Dialect;
  /** Run fn in a write transaction; it commits if fn resolves, rolls back if it throws. */
  transaction<T>(fn: (trx: Transaction<DB>) => Promise<T>): Promise<T>;
  migrate(): Promise<{ applied: string[] }>;
  integrityCheck(): Promise<{ ok: boolean; problems: string[] }>;
  close(): Promise<void>;
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: ConstructorParameters<typeof SqliteDialect>[0];
  constructor(config: ConstructorParameters<typeof SqliteDialect>[0]) {
    super(config);
    this.#config = config;
  }
  override createDriver(): SqliteDriver {
    return new ImmediateSqliteDriver(this.#config);
  }
}

let pgTypesConfigured = false;
function configurePgTypes(): void {
  if (pgTypesConfigured) return;
  pgTypesConfigured = true;
  // int8 (bigint) → number: our bigints are epoch milliseconds and counters, far below 2^53.
  pg.types.setTypeParser(20, (v: string) => Number.parseInt(v, 10));
}

export function openStore(opts: StoreOptions): Store {
  const url = opts.databaseUrl;
  if (url && /^postgres(ql)?:\/\//.test(url)) {
    configurePgTypes();
    const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 10 });
    // An idle client that errors (server restart) must not crash the process.
    pool.on('error', () => {});
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    return makeStore(db, 'postgres');
  }
  if (url && !url.startsWith('sqlite:')) {
    throw new TriplaneError('TRIPLANE_ERR_CONFIG', 'database URL must start with postgres:// or sqlite:', {
      scheme: url.split(':')[0],
    });
  }
  let path = opts.sqlitePath ?? (url ? url.slice('sqlite:'.length) : undefined);
  if (!path) {
    if (!opts.dataDir) throw new TriplaneError('TRIPLANE_ERR_CONFIG', 'a data directory or database URL is required');
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    path = join(opts.dataDir, 'triplane.db');
  }
  const sqlite = new Database(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 10000');
  const db = new Kysely<DB>({ dialect: new ImmediateSqliteDialect({ database: sqlite }) });
  return makeStore(db, 'sqlite');
}

function makeStore(db: Kysely<DB>, dialect: Dialect): Store {
  return {
    db,
    dialect,
    transaction: (fn) => db.transaction().execute(fn),
    async migrate() {
      const migrator = new Migrator({ db, provider: migrationProvider });
      const { error, results } = await migrator.migrateToLatest();
      if (error) {
        throw new TriplaneError('TRIPLANE_ERR_STORE', `migration failed: ${String((error as Error).message ?? error)}`, {
          results,
        });
      }
      return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
    },
    async integrityCheck() {
      const problems: string[] = [];
      if (dialect === 'sqlite') {
        const ic = await sql<{ integrity_check: string }>`pragma integrity_check`.execute(db);
        for (const r of ic.rows) if (r.integrity_check !== 'ok') problems.push(`integrity: ${r.integrity_check}`);
        const fk = await sql<{ table: string; rowid: number; parent: string }>`pragma foreign_key_check`.execute(db);
        for (const r of fk.rows) problems.push(`foreign key: ${r.table} row ${r.rowid} → ${r.parent}`);
      } else {
        // PostgreSQL enforces foreign keys itself; check that no constraint is left unvalidated.
        const r = await sql<{ conname: string }>`select conname from pg_constraint where not convalidated`.execute(db);
        for (const c of r.rows) problems.push(`constraint not validated: ${c.conname}`);
      }
      return { ok: problems.length === 0, problems };
    },
    close: () => db.destroy(),
  };
}

/** Bump the desired-state revision (call inside the mutating transaction). Returns the new revision. */
export async function bumpRevision(trx: Kysely<DB>): Promise<number> {
  const row = await trx
    .updateTable('state_revision')
    .set((eb) => ({ revision: eb('revision', '+', 1) }))
    .where('id', '=', 1)
    .returning('revision')
    .executeTakeFirstOrThrow();
  return Number(row.revision);
}

export async function currentRevision(db: Kysely<DB>): Promise<number> {
  const row = await db.selectFrom('state_revision').select('revision').where('id', '=', 1).executeTakeFirstOrThrow();
  return Number(row.revision);
}
