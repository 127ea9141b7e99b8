import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isoNow, newId } from '@triplane/kernel';
import { DEFAULT_PHP, DEFAULT_RESOURCES } from '@triplane/spec';
import type { Kysely } from 'kysely';
import { createTestDatabase } from '../../testing/postgres.ts';
import type { DB } from '../schema.ts';
import { openStore, type Store } from '../store.ts';

/**
 * A fresh, migrated store of one dialect, plus the means to open more handles on the same
 * database (SQLite: the same file; PostgreSQL: the same throwaway database).
 */
export interface FreshStore {
  store: Store;
  /** Where this database lives: a SQLite file path or a postgres:// URL. */
  location: string;
  /** Another independent handle on the same database (caller closes it). */
  reopen(): Store;
  cleanup(): Promise<void>;
}

export async function freshStore(dialect: 'sqlite' | 'postgres'): Promise<FreshStore> {
  const extra: Store[] = [];
  if (dialect === 'postgres') {
    const { url, drop } = await createTestDatabase();
    const store = openStore({ databaseUrl: url, poolSize: 4 });
    await store.migrate();
    return {
      store,
      location: url,
      reopen() {
        const s = openStore({ databaseUrl: url, poolSize: 4 });
        extra.push(s);
        return s;
      },
      async cleanup() {
        for (const s of extra) await s.close().catch(() => {});
        await store.close();
        await drop();
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'triplane-conformance-'));
  const store = openStore({ dataDir: dir });
  await store.migrate();
  return {
    store,
    location: join(dir, 'triplane.db'),
    reopen() {
      const s = openStore({ dataDir: dir });
      extra.push(s);
      return s;
    },
    async cleanup() {
      for (const s of extra) await s.close().catch(() => {});
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Row builders with every NOT NULL column filled; each returns the new id. */
export const rows = {
  async org(db: Kysely<DB>, slug = `org-${newId('x').slice(2, 10)}`): Promise<string> {
    const id = newId('org');
    const now = isoNow();
    await db.insertInto('organizations').values({ id, slug, name: slug, created_at: now, updated_at: now }).execute();
    return id;
  },
  async user(db: Kysely<DB>, email = `${newId('u')}@example.test`): Promise<string> {
    const id = newId('usr');
    const now = isoNow();
    await db
      .insertInto('users')
      .values({
        id,
        email,
        name: 'u',
        password_hash: null,
        is_superuser: 0,
        disabled: 0,
        created_at: now,
        updated_at: now,
      })
      .execute();
    return id;
  },
  async membership(
    db: Kysely<DB>,
    orgId: string,
    userId: string,
    siteId: string | null = null,
    role = 'viewer',
  ): Promise<string> {
    const id = newId('mem');
    await db
      .insertInto('memberships')
      .values({ id, org_id: orgId, user_id: userId, site_id: siteId, scope: siteId ?? '*', role, created_at: isoNow() })
      .execute();
    return id;
  },
  async token(db: Kysely<DB>, userId: string, hash = newId('h')): Promise<string> {
    const id = newId('tok');
    await db
      .insertInto('api_tokens')
      .values({
        id,
        user_id: userId,
        name: 't',
        token_hash: hash,
        token_prefix: 'tpl_abcd',
        created_at: isoNow(),
        expires_at: null,
        revoked_at: null,
        last_used_at: null,
      })
      .execute();
    return id;
  },
  async session(db: Kysely<DB>, userId: string): Promise<string> {
    const id = newId('ses');
    await db
      .insertInto('sessions')
      .values({
        id,
        user_id: userId,
        token_hash: newId('h'),
        csrf_hash: newId('h'),
        created_at: isoNow(),
        expires_at: '2999-01-01T00:00:00.000Z',
        revoked_at: null,
        ip: null,
        user_agent: null,
      })
      .execute();
    return id;
  },
  async site(db: Kysely<DB>, orgId: string, name = `s-${newId('x').slice(2, 12)}`): Promise<string> {
    const id = newId('site');
    const now = isoNow();
    await db
      .insertInto('sites')
      .values({
        id,
        org_id: orgId,
        name,
        kind: 'wordpress',
        plan: 'essentials',
        status: 'active',
        created_at: now,
        updated_at: now,
      })
      .execute();
    return id;
  },
  async environment(db: Kysely<DB>, siteId: string, name = 'production'): Promise<string> {
    const id = newId('env');
    const now = isoNow();
    await db
      .insertInto('environments')
      .values({
        id,
        site_id: siteId,
        name,
        desired_state: 'running',
        status: 'pending',
        status_message: null,
        generation: 1,
        php: JSON.stringify(DEFAULT_PHP),
        resources: JSON.stringify(DEFAULT_RESOURCES),
        replicas: 1,
        server_ids: '[]',
        external_database: null,
        runtime: null,
        observed: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    return id;
  },
  async domain(db: Kysely<DB>, environmentId: string, hostname = `${newId('d').slice(2)}.example.test`): Promise<string> {
    const id = newId('dom');
    await db
      .insertInto('domains')
      .values({ id, environment_id: environmentId, hostname, is_primary: 1, redirect_to_primary: 1, created_at: isoNow() })
      .execute();
    return id;
  },
};

/** Run fn and return what it threw (fails when it does not throw). */
export async function thrown(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected the operation to throw');
}
