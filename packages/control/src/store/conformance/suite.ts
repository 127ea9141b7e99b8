import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { isoNow, isTriplaneError, newId, newSortableId, TriplaneError } from '@triplane/kernel';
import { sql } from 'kysely';
import { Migrator, NO_MIGRATIONS } from 'kysely/migration';
import { fromStoreError } from '../../api/errors.ts';
import { MIGRATIONS, migrationProvider } from '../migrations/index.ts';
import { bumpRevision, currentRevision, openStore, type Store } from '../store.ts';
import { type FreshStore, freshStore, rows, thrown } from './fixtures.ts';
import { readModifyWrite } from './writer-step.ts';

const TABLES = [
  'organizations',
  'users',
  'memberships',
  'api_tokens',
  'sessions',
  'servers',
  'sites',
  'environments',
  'domains',
  'audit_log',
  'jobs',
  'job_logs',
  'rate_limits',
  'state_revision',
] as const;

async function count(store: Store, table: (typeof TABLES)[number], where?: [string, string]): Promise<number> {
  let q = store.db.selectFrom(table).select((eb) => eb.fn.countAll<number | string>().as('n'));
  if (where) q = q.where(where[0] as never, '=', where[1] as never);
  const r = await q.executeTakeFirstOrThrow();
  return Number(r.n);
}

function code(e: unknown): string | undefined {
  return isTriplaneError(e) ? e.code : fromStoreError(e)?.code;
}

/**
 * The store contract, run against every dialect (house rule 8): both SQLite and PostgreSQL
 * must pass the same suite. Each describe block gets its own fresh database.
 */
export function storeConformanceSuite(dialect: 'sqlite' | 'postgres'): void {
  describe(`store conformance (${dialect})`, () => {
    let fx: FreshStore;
    let store: Store;
    before(async () => {
      fx = await freshStore(dialect);
      store = fx.store;
    });
    after(() => fx.cleanup());

    test('migrations are versioned, recorded in order, and idempotent', async () => {
      const names = Object.keys(MIGRATIONS);
      assert.ok(names.length >= 1);
      for (const n of names) assert.match(n, /^\d{3}-[a-z0-9-]+$/, `migration name ${n} is NNN-name`);
      assert.deepEqual([...names].sort(), names, 'migrations are listed in version order');
      const recorded = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(store.db);
      assert.deepEqual(
        recorded.rows.map((r) => r.name),
        names,
      );
      assert.deepEqual((await store.migrate()).applied, [], 'a second migrate applies nothing');
      const other = fx.reopen();
      assert.deepEqual((await other.migrate()).applied, [], 'another handle on the same database applies nothing');
      await other.close();
      const recordedAgain = await sql<{ name: string }>`select name from kysely_migration`.execute(store.db);
      assert.equal(recordedAgain.rows.length, names.length, 'no migration recorded twice');
    });

    test('every migration has a down: all the way down and back up leaves a clean, usable schema', async () => {
      const scratch = await freshStore(dialect);
      try {
        const migrator = new Migrator({ db: scratch.store.db, provider: migrationProvider });
        const down = await migrator.migrateTo(NO_MIGRATIONS);
        assert.equal(down.error, undefined, String(down.error));
        assert.deepEqual(
          (down.results ?? []).map((r) => r.status),
          Object.keys(MIGRATIONS).map(() => 'Success'),
        );
        const { applied } = await scratch.store.migrate();
        assert.deepEqual(applied, Object.keys(MIGRATIONS));
        assert.equal(await currentRevision(scratch.store.db), 1);
        assert.deepEqual(await scratch.store.integrityCheck(), { ok: true, problems: [] });
      } finally {
        await scratch.cleanup();
      }
    });

    test('unique violations map to TRIPLANE_ERR_ALREADY_EXISTS on every unique key', async () => {
      const db = store.db;
      const orgId = await rows.org(db, 'uq-org');
      const userId = await rows.user(db, 'uq@example.test');
      const siteId = await rows.site(db, orgId, 'shop');
      const envId = await rows.environment(db, siteId, 'production');
      await rows.domain(db, envId, 'uq.example.test');
      await rows.membership(db, orgId, userId);
      await rows.token(db, userId, 'same-hash');
      const cases: Array<[string, () => Promise<unknown>]> = [
        ['organization slug', () => rows.org(db, 'uq-org')],
        ['user email', () => rows.user(db, 'uq@example.test')],
        ['site name within an org', () => rows.site(db, orgId, 'shop')],
        ['environment name within a site', () => rows.environment(db, siteId, 'production')],
        ['domain hostname across the platform', () => rows.domain(db, envId, 'uq.example.test')],
        ['membership (org, user, scope)', () => rows.membership(db, orgId, userId)],
        ['token hash', () => rows.token(db, userId, 'same-hash')],
        [
          'primary key',
          () =>
            db
              .insertInto('organizations')
              .values({ id: orgId, slug: 'other-slug', name: 'x', created_at: isoNow(), updated_at: isoNow() })
              .execute(),
        ],
      ];
      for (const [what, fn] of cases) {
        const e = await thrown(fn);
        const te = fromStoreError(e);
        assert.ok(te, `${what}: ${String((e as Error).message)} is recognised`);
        assert.equal(te.code, 'TRIPLANE_ERR_ALREADY_EXISTS', what);
        assert.ok(te instanceof TriplaneError);
        assert.doesNotMatch(
          te.message,
          /SQLITE|constraint failed|duplicate key value|violates/i,
          'no driver text leaks to clients',
        );
      }
      // A second site with the same name in another org is fine: the key is (org, name).
      const org2 = await rows.org(db, 'uq-org-2');
      await rows.site(db, org2, 'shop');
      // Jobs: the idempotency key is unique, a null key is not.
      const job = (key: string | null) =>
        db
          .insertInto('jobs')
          .values({
            id: newSortableId('job'),
            kind: 'k',
            lane: 'normal',
            priority: 1,
            state: 'queued',
            org_id: null,
            site_id: null,
            environment_id: null,
            params: '{}',
            result: null,
            error: null,
            progress: 0,
            message: '',
            attempts: 0,
            max_attempts: 3,
            run_at: Date.now(),
            lease_owner: null,
            lease_expires_at: null,
            idempotency_key: key,
            cancel_requested: 0,
            created_by: null,
            created_at: isoNow(),
            updated_at: isoNow(),
            started_at: null,
            finished_at: null,
          })
          .execute();
      await job('idem-1');
      await job(null);
      await job(null);
      assert.equal(code(await thrown(() => job('idem-1'))), 'TRIPLANE_ERR_ALREADY_EXISTS');
    });

    test('foreign-key violations map to TRIPLANE_ERR_CONFLICT', async () => {
      const e = await thrown(() => rows.site(store.db, 'org_doesnotexist00000'));
      assert.equal(fromStoreError(e)?.code, 'TRIPLANE_ERR_CONFLICT');
      const e2 = await thrown(() => rows.domain(store.db, 'env_doesnotexist00000'));
      assert.equal(fromStoreError(e2)?.code, 'TRIPLANE_ERR_CONFLICT');
    });

    test('deleting a site cascades to its environments, domains and site-scoped memberships', async () => {
      const db = store.db;
      const orgId = await rows.org(db);
      const userId = await rows.user(db);
      const siteId = await rows.site(db, orgId);
      const keep = await rows.site(db, orgId);
      const envs = [await rows.environment(db, siteId, 'production'), await rows.environment(db, siteId, 'staging')];
      for (const e of envs) await rows.domain(db, e);
      const keepEnv = await rows.environment(db, keep);
      await rows.domain(db, keepEnv);
      await rows.membership(db, orgId, userId, siteId, 'developer');
      await rows.membership(db, orgId, userId, null, 'viewer');

      await db.deleteFrom('sites').where('id', '=', siteId).execute();
      assert.equal(await count(store, 'environments', ['site_id', siteId]), 0);
      for (const e of envs) assert.equal(await count(store, 'domains', ['environment_id', e]), 0);
      assert.equal(await count(store, 'memberships', ['site_id', siteId]), 0);
      // Siblings and the org-wide grant are untouched.
      assert.equal(await count(store, 'environments', ['site_id', keep]), 1);
      assert.equal(await count(store, 'domains', ['environment_id', keepEnv]), 1);
      assert.equal(await count(store, 'memberships', ['user_id', userId]), 1);
      // Deleting an environment removes its domains only.
      await db.deleteFrom('environments').where('id', '=', keepEnv).execute();
      assert.equal(await count(store, 'domains', ['environment_id', keepEnv]), 0);
      assert.equal(await count(store, 'sites', ['id', keep]), 1);
    });

    test('deleting a user cascades to memberships, tokens and sessions', async () => {
      const db = store.db;
      const orgId = await rows.org(db);
      const userId = await rows.user(db);
      const other = await rows.user(db);
      await rows.membership(db, orgId, userId, null, 'admin');
      await rows.token(db, userId);
      await rows.token(db, userId);
      await rows.session(db, userId);
      await rows.membership(db, orgId, other);
      await rows.token(db, other);
      await rows.session(db, other);

      await db.deleteFrom('users').where('id', '=', userId).execute();
      for (const t of ['memberships', 'api_tokens', 'sessions'] as const) {
        assert.equal(await count(store, t, ['user_id', userId]), 0, t);
        assert.equal(await count(store, t, ['user_id', other]), 1, `${t} of another user stay`);
      }
    });

    test('an organization with sites cannot be deleted (restrict); an empty one can, taking its memberships', async () => {
      const db = store.db;
      const orgId = await rows.org(db);
      const userId = await rows.user(db);
      await rows.membership(db, orgId, userId);
      const siteId = await rows.site(db, orgId);
      const e = await thrown(() => db.deleteFrom('organizations').where('id', '=', orgId).execute());
      assert.equal(fromStoreError(e)?.code, 'TRIPLANE_ERR_CONFLICT');
      assert.equal(await count(store, 'organizations', ['id', orgId]), 1);
      assert.equal(await count(store, 'sites', ['id', siteId]), 1, 'the failed delete removed nothing');

      await db.deleteFrom('sites').where('id', '=', siteId).execute();
      await db.deleteFrom('organizations').where('id', '=', orgId).execute();
      assert.equal(await count(store, 'memberships', ['org_id', orgId]), 0);
      assert.equal(await count(store, 'users', ['id', userId]), 1, 'users outlive their organizations');
    });

    test('deleting a job removes its log lines', async () => {
      const db = store.db;
      const id = newSortableId('job');
      await db
        .insertInto('jobs')
        .values({
          id,
          kind: 'k',
          lane: 'low',
          priority: 2,
          state: 'queued',
          org_id: null,
          site_id: null,
          environment_id: null,
          params: '{}',
          result: null,
          error: null,
          progress: 0,
          message: '',
          attempts: 0,
          max_attempts: 3,
          run_at: Date.now(),
          lease_owner: null,
          lease_expires_at: null,
          idempotency_key: null,
          cancel_requested: 0,
          created_by: null,
          created_at: isoNow(),
          updated_at: isoNow(),
          started_at: null,
          finished_at: null,
        })
        .execute();
      for (let seq = 1; seq <= 3; seq++) {
        await db
          .insertInto('job_logs')
          .values({ job_id: id, seq, at: isoNow(), level: 'info', message: `line ${seq}` })
          .execute();
      }
      await db.deleteFrom('jobs').where('id', '=', id).execute();
      assert.equal(await count(store, 'job_logs', ['job_id', id]), 0);
    });

    test('a transaction that throws writes nothing', async () => {
      const slug = `rollback-${newId('x').slice(2, 10)}`;
      const before = await currentRevision(store.db);
      const e = await thrown(() =>
        store.transaction(async (trx) => {
          const orgId = await rows.org(trx, slug);
          const siteId = await rows.site(trx, orgId);
          await rows.environment(trx, siteId);
          await bumpRevision(trx);
          throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'changed my mind');
        }),
      );
      assert.equal(code(e), 'TRIPLANE_ERR_VALIDATION', 'the thrown error comes back unchanged');
      assert.equal(await count(store, 'organizations', ['slug', slug]), 0);
      assert.equal(await currentRevision(store.db), before, 'the revision bump rolled back too');
    });

    test('a transaction that fails on a constraint midway writes nothing', async () => {
      const db = store.db;
      const orgId = await rows.org(db);
      await rows.site(db, orgId, 'taken');
      const sitesBefore = await count(store, 'sites', ['org_id', orgId]);
      const e = await thrown(() =>
        store.transaction(async (trx) => {
          const a = await rows.site(trx, orgId, 'fresh-one');
          await rows.environment(trx, a);
          await rows.site(trx, orgId, 'taken');
        }),
      );
      assert.equal(fromStoreError(e)?.code, 'TRIPLANE_ERR_ALREADY_EXISTS');
      assert.equal(await count(store, 'sites', ['org_id', orgId]), sitesBefore);
      assert.equal(await count(store, 'sites', ['name', 'fresh-one']), 0);
      // The store is usable right after the rollback.
      await store.transaction(async (trx) => rows.site(trx, orgId, 'fresh-one'));
      assert.equal(await count(store, 'sites', ['name', 'fresh-one']), 1);
    });

    test('concurrent atomic revision bumps lose nothing and never deadlock', async () => {
      // PostgreSQL: two pools on one database. SQLite: one handle per process is the rule
      // (better-sqlite3 waits for a lock synchronously, so a second handle in the same
      // thread would block the event loop that the lock holder needs); the
      // cross-process case is the worker-thread test below.
      const other = dialect === 'postgres' ? fx.reopen() : store;
      const start = await currentRevision(store.db);
      const perHandle = 100;
      const run = (s: Store) => Promise.all(Array.from({ length: perHandle }, () => s.transaction((trx) => bumpRevision(trx))));
      const [a, b] = await Promise.all([run(store), run(other)]);
      assert.equal(await currentRevision(store.db), start + 2 * perHandle);
      const all = new Set([...a, ...b]);
      assert.equal(all.size, 2 * perHandle, 'every bump returned a distinct revision');
      if (other !== store) await other.close();
    });

    if (dialect === 'sqlite') {
      test('sqlite: two processes writing the same file under load never hit SQLITE_BUSY or lose an update', async () => {
        const n = 150;
        const start = await currentRevision(store.db);
        const auditBefore = await count(store, 'audit_log');
        const workers = ['w1', 'w2'].map(
          (tag) =>
            new Promise<{ done: number; errors: string[] }>((resolve, reject) => {
              const w = new Worker(new URL('./sqlite-writer.ts', import.meta.url), { workerData: { path: fx.location, n, tag } });
              w.once('message', resolve);
              w.once('error', reject);
            }),
        );
        // The test's own handle writes too, at the same time.
        const mainErrors: string[] = [];
        for (let i = 0; i < n; i++) {
          await readModifyWrite(store, 'main', newSortableId('aud')).catch((e) => mainErrors.push(String(e.code ?? e.message)));
        }
        const results = await Promise.all(workers);
        const errors = [...mainErrors, ...results.flatMap((r) => r.errors)];
        assert.deepEqual(errors, [], 'no transaction failed');
        assert.equal(await currentRevision(store.db), start + 3 * n, 'no lost update');
        assert.equal(await count(store, 'audit_log'), auditBefore + 3 * n);
      });

      test('sqlite: the file is in WAL mode with foreign keys and a busy timeout on every handle', async () => {
        const other = fx.reopen();
        for (const s of [store, other]) {
          const jm = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(s.db);
          assert.equal(jm.rows[0]?.journal_mode, 'wal');
          const fk = await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(s.db);
          assert.equal(fk.rows[0]?.foreign_keys, 1);
          const bt = await sql<{ timeout: number }>`pragma busy_timeout`.execute(s.db);
          assert.ok((bt.rows[0]?.timeout ?? 0) >= 1000);
        }
        await other.close();
      });
    }

    test('bigint epoch-ms columns and integer flags round-trip as JavaScript numbers', async () => {
      const db = store.db;
      const runAt = 4_102_444_800_123; // 2100-01-01T00:00:00.123Z: far above 2^32
      const lease = runAt + 30_000;
      const id = newSortableId('job');
      await db
        .insertInto('jobs')
        .values({
          id,
          kind: 'k',
          lane: 'interactive',
          priority: 0,
          state: 'running',
          org_id: null,
          site_id: null,
          environment_id: null,
          params: '{}',
          result: null,
          error: null,
          progress: 42,
          message: 'm',
          attempts: 1,
          max_attempts: 5,
          run_at: runAt,
          lease_owner: 'w',
          lease_expires_at: lease,
          idempotency_key: null,
          cancel_requested: 1,
          created_by: null,
          created_at: isoNow(),
          updated_at: isoNow(),
          started_at: null,
          finished_at: null,
        })
        .execute();
      const j = await db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      for (const [k, v] of [
        ['run_at', runAt],
        ['lease_expires_at', lease],
        ['priority', 0],
        ['progress', 42],
        ['attempts', 1],
        ['cancel_requested', 1],
      ] as const) {
        assert.equal(typeof j[k], 'number', `${k} is a number`);
        assert.equal(j[k], v, k);
      }
      // Range queries on bigint compare numerically.
      const due = await db.selectFrom('jobs').select('id').where('id', '=', id).where('run_at', '<=', runAt).execute();
      assert.equal(due.length, 1);
      const notDue = await db.selectFrom('jobs').select('id').where('id', '=', id).where('run_at', '<', runAt).execute();
      assert.equal(notDue.length, 0);

      await db.insertInto('rate_limits').values({ key: 'k1', window_start: runAt, count: 7 }).execute();
      const rl = await db.selectFrom('rate_limits').selectAll().where('key', '=', 'k1').executeTakeFirstOrThrow();
      assert.equal(typeof rl.window_start, 'number');
      assert.equal(rl.window_start, runAt);
      assert.equal(typeof (await currentRevision(db)), 'number');
      const rev = await db.selectFrom('state_revision').select('revision').executeTakeFirstOrThrow();
      assert.equal(typeof rev.revision, 'number', 'the raw revision column is a number, not a string');
    });

    test('ISO timestamps and sortable ids order chronologically', async () => {
      const db = store.db;
      const times = [
        '2025-12-31T23:59:59.999Z',
        '2026-01-01T00:00:00.000Z',
        '2026-01-01T00:00:00.001Z',
        '2026-01-01T00:00:10.000Z',
        '2026-02-01T00:00:00.000Z',
        '2026-10-01T00:00:00.000Z',
        '2100-01-01T00:00:00.000Z',
      ];
      const shuffled = [times[3], times[0], times[6], times[2], times[5], times[1], times[4]] as string[];
      const orgId = await rows.org(db);
      for (const at of shuffled) {
        await db
          .insertInto('audit_log')
          .values({
            id: newSortableId('aud', Date.parse(at)),
            at,
            org_id: orgId,
            actor_type: 'system',
            actor_id: null,
            actor_via: 'system',
            action: 'conformance.sort',
            target_type: 't',
            target_id: null,
            ip: null,
            user_agent: null,
            details: null,
          })
          .execute();
      }
      const byAt = await db.selectFrom('audit_log').select('at').where('org_id', '=', orgId).orderBy('at').execute();
      assert.deepEqual(
        byAt.map((r) => r.at),
        times,
      );
      const byId = await db.selectFrom('audit_log').select('at').where('org_id', '=', orgId).orderBy('id').execute();
      assert.deepEqual(
        byId.map((r) => r.at),
        times,
        'newSortableId orders by time in the database collation',
      );
      const since = await db
        .selectFrom('audit_log')
        .select('at')
        .where('org_id', '=', orgId)
        .where('at', '>=', '2026-01-01T00:00:00.001Z')
        .execute();
      assert.equal(since.length, 5);
    });

    test('text round-trips byte for byte: unicode, quotes, long values', async () => {
      const db = store.db;
      const orgId = await rows.org(db);
      const details = JSON.stringify({ s: 'ünïcødé ✓ 🚀 "quoted" \'single\' \\ back', long: 'x'.repeat(100_000) });
      const id = newSortableId('aud');
      await db
        .insertInto('audit_log')
        .values({
          id,
          at: isoNow(),
          org_id: orgId,
          actor_type: 'system',
          actor_id: null,
          actor_via: 'system',
          action: 'conformance.text',
          target_type: 't',
          target_id: null,
          ip: '::1',
          user_agent: null,
          details,
        })
        .execute();
      const r = await db.selectFrom('audit_log').select('details').where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(r.details, details);
    });

    test('NUL characters in text: stored by SQLite, refused by PostgreSQL with a mapped code (never a raw error)', async () => {
      const slug = `nul-${newId('x').slice(2, 10)}`;
      if (dialect === 'sqlite') {
        const id = await rows.org(store.db, slug);
        await store.db.updateTable('organizations').set({ name: 'a\u0000b' }).where('id', '=', id).execute();
        const r = await store.db.selectFrom('organizations').select('name').where('id', '=', id).executeTakeFirstOrThrow();
        assert.equal(r.name, 'a\u0000b');
      } else {
        const e = await thrown(() => rows.org(store.db, `${slug}\u0000`));
        assert.equal(fromStoreError(e)?.code, 'TRIPLANE_ERR_VALIDATION');
        const e2 = await thrown(() => store.db.selectFrom('jobs').select('id').where('kind', '=', 'a\u0000b').execute());
        assert.equal(fromStoreError(e2)?.code, 'TRIPLANE_ERR_VALIDATION', 'in a query parameter too');
      }
    });

    test('integrityCheck is clean, and it notices a broken database', async () => {
      assert.deepEqual(await store.integrityCheck(), { ok: true, problems: [] });
      const scratch = await freshStore(dialect);
      try {
        const db = scratch.store.db;
        if (dialect === 'sqlite') {
          // Sneak an orphan past the foreign keys; the check must report it.
          await sql`pragma foreign_keys = off`.execute(db);
          await rows.domain(db, 'env_orphanorphan0000');
          await sql`pragma foreign_keys = on`.execute(db);
          const r = await scratch.store.integrityCheck();
          assert.equal(r.ok, false);
          assert.match(r.problems.join('\n'), /foreign key: domains/);
        } else {
          await sql`alter table domains add constraint conformance_not_valid check (length(hostname) > 0) not valid`.execute(db);
          const r = await scratch.store.integrityCheck();
          assert.equal(r.ok, false);
          assert.match(r.problems.join('\n'), /conformance_not_valid/);
        }
      } finally {
        await scratch.cleanup();
      }
    });
  });
}

/** Store construction refuses bad configuration with TRIPLANE_ERR_CONFIG (dialect-independent). */
export function storeConfigSuite(): void {
  describe('store configuration', () => {
    test('a bad database URL is refused with TRIPLANE_ERR_CONFIG', () => {
      for (const url of ['mysql://root@localhost/db', 'http://example.test/', 'file:/tmp/x.db', 'postgre://x', 'triplane.db']) {
        assert.throws(
          () => openStore({ databaseUrl: url }),
          (e: unknown) => isTriplaneError(e) && e.code === 'TRIPLANE_ERR_CONFIG' && !e.message.includes('password'),
          url,
        );
      }
    });

    test('no data directory and no URL is refused with TRIPLANE_ERR_CONFIG', () => {
      for (const o of [{}, { databaseUrl: 'sqlite:' }, { databaseUrl: '' }]) {
        assert.throws(
          () => openStore(o),
          (e: unknown) => isTriplaneError(e) && e.code === 'TRIPLANE_ERR_CONFIG',
          JSON.stringify(o),
        );
      }
    });

    test('the URL scheme in the error never echoes credentials', () => {
      const e = (() => {
        try {
          openStore({ databaseUrl: 'mysql://admin:hunter2@db/x' });
        } catch (err) {
          return err as TriplaneError;
        }
        return undefined;
      })();
      assert.ok(e);
      assert.doesNotMatch(JSON.stringify(e.toJSON()), /hunter2/);
    });

    test('an unreachable PostgreSQL fails migrate with a TriplaneError, not a raw driver error', async () => {
      const s = openStore({ databaseUrl: 'postgres://nobody:secret@127.0.0.1:1/none' });
      try {
        const e = await thrown(() => s.migrate());
        assert.ok(isTriplaneError(e), String(e));
        assert.equal(e.code, 'TRIPLANE_ERR_STORE');
        assert.doesNotMatch(JSON.stringify(e.toJSON()), /secret/);
      } finally {
        await s.close();
      }
    });
  });
}
