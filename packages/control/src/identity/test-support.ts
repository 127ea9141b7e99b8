import assert from 'node:assert/strict';
import { isoNow, newId } from '@triplane/kernel';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { CSRF_COOKIE, SESSION_COOKIE } from '../api/auth/authenticate.ts';
import { hashPassword } from '../api/auth/secrets.ts';
import type { Store } from '../store/store.ts';
import type { Harness, TestUser } from '../testing/harness.ts';

/**
 * Test helpers for the identity routes (tests only). `checkedCall` wraps the harness's
 * `call` so every answer is checked for leaks: no hash columns, no password hashes, no
 * stack traces, error bodies in the standard shape.
 */
export type Res = LightMyRequestResponse & { json<T = any>(): T };

const LEAKS = [/password_?hash/i, /token_?hash/i, /csrf_?hash/i, /credential_?hash/i, /scrypt\$/, /"stack"/, /\n\s+at /];

export function assertClean(res: Res, what = ''): Res {
  for (const re of LEAKS) assert.doesNotMatch(res.body, re, `${what} leaks ${re}: ${res.body.slice(0, 300)}`);
  if (res.statusCode >= 400) {
    const b = res.json();
    assert.match(b?.error?.code ?? '', /^TRIPLANE_ERR_/, `${what} error shape: ${res.body}`);
  }
  assert.ok(res.statusCode < 500, `${what} answered ${res.statusCode}: ${res.body}`);
  return res;
}

export function checkedCall(h: Harness): Harness['call'] {
  return async (token, method, url, body, headers) =>
    assertClean(await h.call(token, method, url, body, headers), `${method} ${url}`) as Res;
}

/** A mutable clock, so tests can expire tokens, sessions and rate-limit windows. */
export function testClock(start = Date.now()): { now(): number; advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

export async function setPassword(store: Store, userId: string, password: string): Promise<void> {
  await store.db
    .updateTable('users')
    .set({ password_hash: await hashPassword(password) })
    .where('id', '=', userId)
    .execute();
}

export async function makeSite(store: Store, orgId: string, name: string): Promise<string> {
  const id = newId('site');
  const now = isoNow();
  await store.db
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
}

export interface Session {
  cookie: string;
  csrf: string;
  res: Res;
}

/** Sign in through the API; returns the cookie values. */
export async function login(h: Harness, email: string, password: string, remoteAddress = '127.0.0.1'): Promise<Session> {
  const res = assertClean(
    (await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password }, remoteAddress })) as Res,
    'login',
  );
  assert.equal(res.statusCode, 200, res.body);
  const cookie = res.cookies.find((c) => c.name === SESSION_COOKIE)?.value ?? '';
  const csrf = res.cookies.find((c) => c.name === CSRF_COOKIE)?.value ?? '';
  return { cookie, csrf, res };
}

/** Call the API with a session cookie (and the CSRF header when given). */
export async function sessionCall(
  h: Harness,
  s: { cookie: string; csrf?: string | undefined },
  method: InjectOptions['method'],
  url: string,
  body?: unknown,
): Promise<Res> {
  const headers: Record<string, string> = {};
  if (s.csrf) headers['x-csrf-token'] = s.csrf;
  const res = await h.app.inject({
    method,
    url,
    headers,
    cookies: { [SESSION_COOKIE]: s.cookie },
    ...(body === undefined ? {} : { payload: body as object }),
  });
  return assertClean(res as Res, `${method} ${url}`);
}

export const DIALECTS = ['sqlite', 'postgres'] as const;

export interface Cast {
  /** Platform superuser (also the default organization's owner). */
  superuser: TestUser;
  owner: TestUser;
  admin: TestUser;
  developer: TestUser;
  viewer: TestUser;
  /** A developer granted one site of the default organization only. */
  siteDev: TestUser;
  siteId: string;
  /** Another organization and its owner. */
  other: { orgId: string; owner: TestUser; siteId: string };
}

/** One user per role in the harness's organization, a site-scoped user and a second organization. */
export async function makeCast(h: Harness, slug = 'other-org'): Promise<Cast> {
  const siteId = await makeSite(h.store, h.orgId, 'shop');
  const other = await h.makeOrg(slug);
  return {
    superuser: h.owner,
    owner: await h.makeUser('owner'),
    admin: await h.makeUser('admin'),
    developer: await h.makeUser('developer'),
    viewer: await h.makeUser('viewer'),
    siteDev: await h.makeUser('developer', { siteId }),
    siteId,
    other: { ...other, siteId: await makeSite(h.store, other.orgId, 'other-shop') },
  };
}
