import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isoNow, newId } from '@triplane/kernel';
import type { Role } from '@triplane/spec';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../api/app.ts';
import type { AppOptions } from '../api/context.ts';
import { initPlatform } from '../bootstrap/init.ts';
import { issueApiToken } from '../identity/tokens.ts';
import { openStore, type Store } from '../store/store.ts';
import { createTestDatabase } from './postgres.ts';

/**
 * Test store: SQLite in a temp dir by default; PostgreSQL when TRIPLANE_TEST_PG_URL is set
 * (the test runner starts a real server), each call getting its own fresh database.
 * `dialect` forces one.
 */
export async function openTestStore(dialect?: 'sqlite' | 'postgres'): Promise<{ store: Store; cleanup: () => Promise<void> }> {
  const want = dialect ?? (process.env.TRIPLANE_TEST_DIALECT === 'postgres' ? 'postgres' : 'sqlite');
  if (want === 'postgres') {
    const { url, drop } = await createTestDatabase();
    const store = openStore({ databaseUrl: url, poolSize: 4 });
    await store.migrate();
    return {
      store,
      cleanup: async () => {
        await store.close();
        await drop();
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'triplane-test-'));
  const store = openStore({ dataDir: dir });
  await store.migrate();
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TestUser {
  userId: string;
  token: string;
  email: string;
}

export interface Harness {
  app: FastifyInstance;
  store: Store;
  orgId: string;
  owner: TestUser;
  /** Call the API as a token holder; JSON body in, parsed JSON out. */
  call(
    token: string | null,
    method: InjectOptions['method'],
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<LightMyRequestResponse & { json<T = any>(): T }>;
  /** Make a user with a role in an organization (optionally on one site), and an API token for them. */
  makeUser(role: Role, opts?: { orgId?: string; siteId?: string | null; email?: string }): Promise<TestUser>;
  /** A second organization with its own owner. */
  makeOrg(slug: string): Promise<{ orgId: string; owner: TestUser }>;
  close(): Promise<void>;
}

export async function createHarness(opts: Partial<AppOptions> & { dialect?: 'sqlite' | 'postgres' } = {}): Promise<Harness> {
  const { store, cleanup } = await openTestStore(opts.dialect);
  const init = await initPlatform(store, { ownerEmail: 'owner@example.test' });
  const app = await buildApp({ ...opts, store });
  const owner: TestUser = { userId: init.userId, token: init.token as string, email: 'owner@example.test' };

  async function insertUser(email: string): Promise<TestUser> {
    const now = isoNow();
    const userId = newId('usr');
    await store.db
      .insertInto('users')
      .values({
        id: userId,
        email,
        name: email.split('@')[0] ?? email,
        password_hash: null,
        is_superuser: 0,
        disabled: 0,
        created_at: now,
        updated_at: now,
      })
      .execute();
    const { token } = await issueApiToken(store.db, { userId, name: 'test', nowMs: Date.now() });
    return { userId, token, email };
  }
  async function grant(orgId: string, userId: string, role: Role, siteId: string | null): Promise<void> {
    await store.db
      .insertInto('memberships')
      .values({
        id: newId('mem'),
        org_id: orgId,
        user_id: userId,
        site_id: siteId,
        scope: siteId ?? '*',
        role,
        created_at: isoNow(),
      })
      .execute();
  }

  let n = 0;
  return {
    app,
    store,
    orgId: init.orgId,
    owner,
    async call(token, method, url, body, headers = {}) {
      const h: Record<string, string> = { ...headers };
      if (token) h.authorization = `Bearer ${token}`;
      const res = await app.inject({ method, url, headers: h, ...(body === undefined ? {} : { payload: body as object }) });
      return res as LightMyRequestResponse & { json<T = any>(): T };
    },
    async makeUser(role, o = {}) {
      const u = await insertUser(o.email ?? `${role}${++n}-${Math.random().toString(36).slice(2, 8)}@example.test`);
      await grant(o.orgId ?? init.orgId, u.userId, role, o.siteId ?? null);
      return u;
    },
    async makeOrg(slug) {
      const now = isoNow();
      const orgId = newId('org');
      await store.db
        .insertInto('organizations')
        .values({ id: orgId, slug, name: slug, created_at: now, updated_at: now })
        .execute();
      const u = await insertUser(`owner-${slug}@example.test`);
      await grant(orgId, u.userId, 'owner', null);
      return { orgId, owner: u };
    },
    async close() {
      await app.close();
      await cleanup();
    },
  };
}
