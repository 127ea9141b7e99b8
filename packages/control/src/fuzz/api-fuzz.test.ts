/**
 * API fuzz test: thousands of random and mutated requests at every route documented in the
 * live OpenAPI document, from every kind of caller, then the invariants the issue asks for:
 * no 5xx, every error in the error shape with a stable code and the status that code maps
 * to, the process alive, nothing polluted, and the store's integrity check clean.
 *
 * Reproducible: the request plan is a function of the seed (printed at the start).
 *   TRIPLANE_FUZZ_SEED=1234 TRIPLANE_FUZZ_REQUESTS=20000 node scripts/test.ts packages/control/src/fuzz/api-fuzz.test.ts
 * (ids created by the server during the run differ between runs; the plan does not).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { isoNow, newId, newSecret } from '@triplane/kernel';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { hashSecret, TOKEN_PREFIX } from '../api/auth/secrets.ts';
import { STATUS_BY_CODE } from '../api/errors.ts';
import { enqueueJob } from '../jobs/enqueue.ts';
import { rows } from '../store/conformance/fixtures.ts';
import { createHarness, type Harness } from '../testing/harness.ts';
import {
  garbageQueryValue,
  garbageSegment,
  MALFORMED_JSON,
  MUTATIONS,
  type Mutation,
  mutate,
  NASTY_STRINGS,
  pollutionBodies,
} from './mutate.ts';
import { type OpenApiDoc, type Operation, operations } from './openapi.ts';
import { Rng } from './prng.ts';
import { generate, type IdSource } from './schema-gen.ts';

const SEED = process.env.TRIPLANE_FUZZ_SEED ? Number(process.env.TRIPLANE_FUZZ_SEED) : 0x7a1b1a7e;
const TOTAL = Number(process.env.TRIPLANE_FUZZ_REQUESTS ?? 5500);
const CONCURRENCY = 8;
/** SQLite by default (the target); TRIPLANE_FUZZ_DIALECT=postgres runs the same plan on PostgreSQL. */
const DIALECT = process.env.TRIPLANE_FUZZ_DIALECT === 'postgres' ? 'postgres' : 'sqlite';
const BODY_LIMIT = 256 * 1024;
const READ_DEADLINE_MS = 3000;

const ID_RE = /^([a-z]{2,8})_[0-9a-z]{16}$/;
const PREFIX_BY_NOUN: Record<string, string> = {
  orgs: 'org',
  users: 'usr',
  members: 'mem',
  tokens: 'tok',
  servers: 'srv',
  agents: 'srv',
  sites: 'site',
  environments: 'env',
  domains: 'dom',
  jobs: 'job',
  audit: 'aud',
};
const PREFIX_BY_PARAM: Record<string, string> = {
  orgId: 'org',
  userId: 'usr',
  memberId: 'mem',
  tokenId: 'tok',
  serverId: 'srv',
  siteId: 'site',
  environmentId: 'env',
  envId: 'env',
  domainId: 'dom',
  jobId: 'job',
  actorId: 'usr',
  targetId: 'site',
};

type CallerName =
  | 'owner'
  | 'admin'
  | 'developer'
  | 'viewer'
  | 'siteDeveloper'
  | 'otherOrgOwner'
  | 'anonymous'
  | 'appServer'
  | 'edgeServer'
  | 'randomToken'
  | 'malformedAuth'
  | 'session'
  | 'sessionNoCsrf';

const CALLER_WEIGHTS: ReadonlyArray<readonly [number, CallerName]> = [
  [24, 'owner'],
  [10, 'admin'],
  [10, 'developer'],
  [10, 'viewer'],
  [6, 'siteDeveloper'],
  [8, 'otherOrgOwner'],
  [9, 'anonymous'],
  [6, 'appServer'],
  [3, 'edgeServer'],
  [5, 'randomToken'],
  [3, 'malformedAuth'],
  [3, 'session'],
  [3, 'sessionNoCsrf'],
];

interface Sent {
  n: number;
  caller: CallerName;
  method: string;
  url: string;
  route: string;
  mode: string;
  headers: Record<string, string>;
  payload?: string;
}

interface Failure {
  sent: Sent;
  status: number;
  why: string;
  body: string;
}

let h: Harness;
let doc: OpenApiDoc;
const headersFor = new Map<CallerName, (rng: Rng) => Record<string, string>>();
const pools = new Map<string, string[]>();
/** Ids the fuzzer must not mutate, or it would lock its own callers out. */
const protectedIds = new Set<string>();
/** A server caller mostly speaks for itself: its own id in `{serverId}`. */
const ownServerId = new Map<CallerName, string>();

function addId(id: string): void {
  const m = ID_RE.exec(id);
  if (!m) return;
  const prefix = m[1] as string;
  let pool = pools.get(prefix);
  if (!pool) {
    pool = [];
    pools.set(prefix, pool);
  }
  if (pool.includes(id)) return;
  pool.push(id);
  if (pool.length > 60) pool.splice(0, pool.length - 60);
}

function harvest(v: unknown, depth = 0): void {
  if (depth > 6 || v === null || v === undefined) return;
  if (typeof v === 'string') addId(v);
  else if (Array.isArray(v)) for (const x of v.slice(0, 50)) harvest(x, depth + 1);
  else if (typeof v === 'object') for (const x of Object.values(v)) harvest(x, depth + 1);
}

function idFor(rng: Rng, prefix: string | undefined, mutating: boolean): string {
  const candidates = (p: string | undefined) =>
    (p ? (pools.get(p) ?? []) : []).filter((id) => !mutating || !protectedIds.has(id));
  const own = candidates(prefix);
  if (own.length && rng.chance(0.85)) return rng.pick(own);
  const all = [...pools.keys()].flatMap((p) => candidates(p));
  return all.length ? rng.pick(all) : newId(prefix ?? 'x');
}

function idSource(rng: Rng, mutating: boolean): IdSource {
  return {
    forProperty(name: string) {
      const p = PREFIX_BY_PARAM[name] ?? (name.endsWith('Id') ? PREFIX_BY_PARAM[`${name.slice(0, -2)}Id`] : undefined);
      const plural = name.endsWith('Ids') ? PREFIX_BY_PARAM[name.slice(0, -1)] : undefined;
      const prefix = p ?? plural;
      return prefix ? idFor(rng, prefix, mutating) : undefined;
    },
  };
}

function prefixForPathParam(path: string, name: string): string | undefined {
  if (PREFIX_BY_PARAM[name]) return PREFIX_BY_PARAM[name];
  const segs = path.split('/');
  const i = segs.indexOf(`{${name}}`);
  const noun = i > 0 ? segs[i - 1] : undefined;
  return noun ? PREFIX_BY_NOUN[noun] : undefined;
}

/** Percent-encode, including strings with lone surrogates (sent as their UTF-8 replacement bytes). */
function enc(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  }
}

function buildUrl(rng: Rng, op: Operation, mutating: boolean, caller: CallerName): string {
  let url = op.path;
  for (const p of op.pathParams) {
    let v: string;
    const r = rng.next();
    const own = ownServerId.get(caller);
    if (p.name === 'serverId' && own && r < 0.7) v = own;
    else if (p.schema?.anyOf || p.schema?.enum)
      v = r < 0.8 ? String(generate(p.schema, rng, idSource(rng, mutating))) : garbageSegment(rng);
    else if (r < 0.72) v = idFor(rng, prefixForPathParam(op.path, p.name), mutating);
    else v = garbageSegment(rng);
    url = url.replace(`{${p.name}}`, v);
  }
  const q: string[] = [];
  const ids = idSource(rng, false);
  for (const p of op.queryParams) {
    if (p.required || rng.chance(0.35)) {
      const v = rng.chance(0.8) ? generate(p.schema, rng, ids, p.name) : garbageQueryValue(rng);
      q.push(`${enc(p.name)}=${enc(String(v))}`);
    }
  }
  if (rng.chance(0.06))
    q.push(
      `${rng.pick(['zz', '__proto__[x]', 'constructor[prototype][x]', 'limit', 'a'.repeat(300)])}=${garbageQueryValue(rng)}`,
    );
  if (rng.chance(0.02)) q.push(`${enc(rng.pick(NASTY_STRINGS))}=1`);
  if (rng.chance(0.02)) return `${url}?${'%zz&'.repeat(3)}`;
  return q.length ? `${url}?${q.join('&')}` : url;
}

const ODD_METHODS: InjectOptions['method'][] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE'];

const EXTRA_TARGETS = [
  '/healthz',
  '/readyz',
  '/metrics',
  '/api/openapi.json',
  '/',
  '/api',
  '/api/v1',
  '/api/v1/',
  '/api/v2/sites',
  '/api/v1/sites/../orgs',
  '/api/v1//sites',
  '/API/V1/SITES',
  '/api/v1/sites%2f..%2forgs',
  '/api/v1/%00',
  '/api/v1/nope/nope/nope',
  `/api/v1/${'a'.repeat(3000)}`,
];

function plan(rng: Rng, ops: Operation[], n: number): Sent {
  const caller = rng.weighted(CALLER_WEIGHTS);
  const headers: Record<string, string> = { ...(headersFor.get(caller)?.(rng) ?? {}) };
  if (rng.chance(0.05)) headers['user-agent'] = [...rng.pick(NASTY_STRINGS)].filter((c) => c >= ' ' && c <= '~').join('');
  if (rng.chance(0.03)) headers['if-none-match'] = rng.pick(['"x"', '*', 'W/"1"', '"', 'a'.repeat(500)]);
  if (rng.chance(0.02)) headers['x-forwarded-for'] = rng.pick(['1.2.3.4', 'garbage', '::1, 10.0.0.1']);

  if (rng.chance(0.04)) {
    const url = rng.pick(EXTRA_TARGETS);
    return { n, caller, method: rng.pick(ODD_METHODS) as string, url, route: url, mode: 'extra', headers };
  }
  const op = rng.pick(ops);
  const method = (rng.chance(0.92) ? op.method : rng.pick(ODD_METHODS)) as string;
  const mutating = method !== 'GET' && method !== 'HEAD';
  const url = buildUrl(rng, op, mutating, caller);
  const sent: Sent = { n, caller, method, url, route: `${op.method} ${op.path}`, mode: 'none', headers };
  const wantsBody = op.hasBody ? rng.chance(0.97) : rng.chance(0.06);
  if (!wantsBody || method === 'GET' || method === 'HEAD') return sent;

  const valid = op.body ? generate(op.body, rng, idSource(rng, mutating)) : {};
  const mode = rng.weighted<string>([
    [76, 'json'],
    [7, 'malformed'],
    [5, 'pollution'],
    [5, 'content-type'],
    [2, 'oversize'],
    [2, 'empty'],
    [1.5, 'length-lie'],
    [1.5, 'no-content-type'],
    [1, 'deep-raw'],
  ]);
  sent.mode = mode;
  switch (mode) {
    case 'json': {
      const m: Mutation = rng.weighted(MUTATIONS);
      sent.mode = `json:${m}`;
      headers['content-type'] = rng.pick(['application/json', 'application/json; charset=utf-8', 'Application/JSON']);
      sent.payload = JSON.stringify(mutate(rng, valid, m)) ?? 'null';
      break;
    }
    case 'malformed':
      headers['content-type'] = 'application/json';
      sent.payload = rng.pick(MALFORMED_JSON);
      break;
    case 'pollution':
      headers['content-type'] = 'application/json';
      sent.payload = rng.pick(pollutionBodies(rng, valid));
      break;
    case 'content-type':
      headers['content-type'] = rng.pick([
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/xml',
        'application/json; charset=latin1',
        'application/jsonx',
        'json',
        '*/*',
        ';;;',
        'application/json, text/plain',
      ]);
      sent.payload = rng.chance(0.5) ? JSON.stringify(valid) : 'a=1&b=2';
      break;
    case 'oversize':
      headers['content-type'] = 'application/json';
      sent.payload = JSON.stringify({ ...(valid as object), pad: 'x'.repeat(BODY_LIMIT + rng.int(4096)) });
      break;
    case 'empty':
      headers['content-type'] = 'application/json';
      sent.payload = '';
      break;
    case 'length-lie': {
      headers['content-type'] = 'application/json';
      sent.payload = JSON.stringify(valid);
      headers['content-length'] = String(rng.pick([0, 1, sent.payload.length + 10, 10 ** 9]));
      break;
    }
    case 'no-content-type':
      sent.payload = JSON.stringify(valid);
      break;
    case 'deep-raw': {
      // Deeper than any recursive JSON.stringify/validator can follow.
      const n = rng.pick([5_000, 20_000]);
      headers['content-type'] = 'application/json';
      const inner = `${'['.repeat(n)}1${']'.repeat(n)}`;
      const base = valid && typeof valid === 'object' && !Array.isArray(valid) ? JSON.stringify(valid).slice(1, -1) : '';
      const key = rng.pick(Object.keys((valid as object) ?? {}).concat(['deep']));
      sent.payload = `{${base}${base ? ',' : ''}"${key}":${inner}}`;
      break;
    }
  }
  return sent;
}

async function readAll(res: LightMyRequestResponse, ms: number): Promise<{ body: string; timedOut: boolean }> {
  const stream = res.stream();
  const chunks: Buffer[] = [];
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stream.destroy();
      resolve({ body: Buffer.concat(chunks).toString('utf8'), timedOut: true });
    }, ms);
    stream.on('data', (c: Buffer | string) => chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c)));
    stream.on('end', () => {
      clearTimeout(timer);
      resolve({ body: Buffer.concat(chunks).toString('utf8'), timedOut: false });
    });
    stream.on('error', () => {
      clearTimeout(timer);
      resolve({ body: Buffer.concat(chunks).toString('utf8'), timedOut: false });
    });
  });
}

/** Content types that are not JSON in any reading: such bodies must be refused (415), never parsed. */
const NOT_JSON = new Set([
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/jsonx',
  'json',
]);

const STACK_RE = /\bat [^\s]+ \(?[^\s]*\.(ts|js):\d+:\d+|node_modules\/|\/work\/|file:\/\//;
const SECRET_RE = /password_hash|token_hash|csrf_hash|credential_hash|join_token_hash|scrypt\$/;

function check(sent: Sent, status: number, contentType: string, body: string, timedOut: boolean): string | undefined {
  const sse = contentType.startsWith('text/event-stream');
  if (timedOut && !sse) return `no complete response within ${READ_DEADLINE_MS} ms`;
  // 503 TRIPLANE_ERR_UNAVAILABLE is a deliberate answer (the agent that holds a site's files is
  // offline: retry later), documented on those routes; any other 5xx is a bug.
  if (status >= 500 && !(status === 503 && /"code":"TRIPLANE_ERR_UNAVAILABLE"/.test(body))) return `status ${status}`;
  if (SECRET_RE.test(body)) return 'response contains a secret hash';
  if (STACK_RE.test(body)) return 'response contains a stack trace or a file path';
  const noBody = sent.method === 'HEAD' || status === 204 || status === 304;
  if (status >= 400) {
    if (noBody) return undefined;
    if (!contentType.startsWith('application/json')) return `error with content-type ${contentType}`;
    let parsed: any;
    try {
      parsed = JSON.parse(body);
    } catch {
      return 'error body is not JSON';
    }
    const e = parsed?.error;
    if (!e || typeof e !== 'object') return 'error body lacks `error`';
    if (typeof e.code !== 'string' || !/^TRIPLANE_ERR_[A-Z0-9_]+$/.test(e.code)) return `bad error code ${e.code}`;
    if (typeof e.message !== 'string' || e.message.length === 0) return 'error without a message';
    if (Object.keys(parsed).length !== 1) return 'error body has extra top-level keys';
    const expected = STATUS_BY_CODE[e.code];
    if (expected !== undefined && expected !== status) return `code ${e.code} maps to ${expected}, sent ${status}`;
    if (expected === undefined) return `code ${e.code} has no status mapping`;
    if (NOT_JSON.has(sent.headers['content-type'] ?? '') && sent.payload && e.code === 'TRIPLANE_ERR_VALIDATION') {
      return `a ${sent.headers['content-type']} body was parsed (validation error instead of 415)`;
    }
    return undefined;
  }
  if (NOT_JSON.has(sent.headers['content-type'] ?? '') && sent.payload && status < 300) {
    return `a ${sent.headers['content-type']} body was accepted`;
  }
  if (status >= 200 && status < 300 && !noBody && contentType.startsWith('application/json')) {
    try {
      harvest(JSON.parse(body));
    } catch {
      return '2xx body is not valid JSON';
    }
  }
  return undefined;
}

before(async () => {
  h = await createHarness({ dialect: DIALECT, bodyLimit: BODY_LIMIT, maxWatchMs: 50 });
  const db = h.store.db;
  const r = await h.call(null, 'GET', '/api/openapi.json');
  doc = r.json();

  // Real resources to aim at: two orgs, sites with environments and domains, servers, jobs.
  const other = await h.makeOrg('fuzz-other');
  const siteIds: string[] = [];
  for (const [org, name] of [
    [h.orgId, 'fuzz-shop'],
    [h.orgId, 'fuzz-blog'],
    [h.orgId, 'fuzz-store'],
    [other.orgId, 'fuzz-theirs'],
  ] as const) {
    const siteId = await rows.site(db, org, name);
    siteIds.push(siteId);
    for (const env of ['production', 'staging']) {
      const envId = await rows.environment(db, siteId, env);
      await rows.domain(db, envId, `${env}.${name}.example.test`);
      await rows.domain(db, envId, `www.${env}.${name}.example.test`);
    }
  }
  const admin = await h.makeUser('admin');
  const developer = await h.makeUser('developer');
  const viewer = await h.makeUser('viewer');
  const siteDeveloper = await h.makeUser('developer', { siteId: siteIds[0] as string });
  const spareTokenUser = await h.makeUser('viewer');
  await rows.token(db, spareTokenUser.userId);

  const serverToken = async (name: string, role: 'app' | 'edge', caller: CallerName) => {
    const token = newSecret(TOKEN_PREFIX.server);
    const id = newId('srv');
    const now = isoNow();
    await db
      .insertInto('servers')
      .values({
        id,
        name,
        role,
        status: 'online',
        address: '10.0.0.1',
        join_token_hash: null,
        join_token_expires_at: null,
        credential_hash: hashSecret(token),
        joined_at: now,
        last_heartbeat_at: now,
        agent_version: 'fuzz',
        facts: '{}',
        created_at: now,
        updated_at: now,
      })
      .execute();
    protectedIds.add(id);
    ownServerId.set(caller, id);
    return token;
  };
  const appToken = await serverToken('fuzz-app-1', 'app', 'appServer');
  const edgeToken = await serverToken('fuzz-edge-1', 'edge', 'edgeServer');

  const sessionCookie = newSecret(TOKEN_PREFIX.session);
  const csrf = newSecret(TOKEN_PREFIX.csrf);
  await db
    .insertInto('sessions')
    .values({
      id: newId('ses'),
      user_id: developer.userId,
      token_hash: hashSecret(sessionCookie),
      csrf_hash: hashSecret(csrf),
      created_at: isoNow(),
      expires_at: '2999-01-01T00:00:00.000Z',
      revoked_at: null,
      ip: null,
      user_agent: null,
    })
    .execute();

  await h.store.transaction(async (trx) => {
    for (const siteId of siteIds) {
      await enqueueJob(trx, { kind: 'fuzz.noop', orgId: h.orgId, siteId, params: { n: 1 } });
    }
  });

  const bearer = (t: string) => () => ({ authorization: `Bearer ${t}` });
  headersFor.set('owner', bearer(h.owner.token));
  headersFor.set('admin', bearer(admin.token));
  headersFor.set('developer', bearer(developer.token));
  headersFor.set('viewer', bearer(viewer.token));
  headersFor.set('siteDeveloper', bearer(siteDeveloper.token));
  headersFor.set('otherOrgOwner', bearer(other.owner.token));
  headersFor.set('anonymous', () => ({}));
  headersFor.set('appServer', bearer(appToken));
  headersFor.set('edgeServer', bearer(edgeToken));
  headersFor.set('randomToken', (rng) => ({
    authorization: `Bearer ${rng.pick(['tpl', 'tpa', 'tps', 'tpj', 'xyz'])}_${rng.fork().toString(36)}${'a'.repeat(rng.int(60))}`,
  }));
  headersFor.set('malformedAuth', (rng) => ({
    authorization: rng.pick([
      'Bearer',
      'Bearer ',
      'Basic dXNlcjpwYXNz',
      'bearer x',
      `Bearer ${'a'.repeat(300)}`,
      'Bearer a b',
      'Token x',
      '\t',
    ]),
  }));
  headersFor.set('session', () => ({ cookie: `triplane_session=${sessionCookie}`, 'x-csrf-token': csrf }));
  headersFor.set('sessionNoCsrf', (rng) => ({
    cookie: `triplane_session=${sessionCookie}`,
    ...(rng.chance(0.5) ? { 'x-csrf-token': 'tpc_wrong' } : {}),
  }));

  // Pools of real ids, straight from the store.
  for (const t of [
    'organizations',
    'users',
    'memberships',
    'api_tokens',
    'sites',
    'environments',
    'domains',
    'servers',
    'jobs',
  ] as const) {
    for (const row of await db.selectFrom(t).select('id').execute()) addId(row.id);
  }
  for (const u of [h.owner, admin, developer, viewer, siteDeveloper, other.owner]) {
    protectedIds.add(u.userId);
    for (const t of await db.selectFrom('api_tokens').select('id').where('user_id', '=', u.userId).execute())
      protectedIds.add(t.id);
    for (const m of await db.selectFrom('memberships').select('id').where('user_id', '=', u.userId).execute())
      protectedIds.add(m.id);
  }
  protectedIds.add(h.orgId);
  protectedIds.add(other.orgId);
});

after(() => h?.close());

test(`fuzz: ${TOTAL} random and mutated requests (seed ${SEED}) — no 5xx, error shape, process alive, store intact`, async () => {
  console.log(`# api fuzz seed=${SEED} requests=${TOTAL} store=${DIALECT} (reproduce: TRIPLANE_FUZZ_SEED=${SEED})`);
  const ops = operations(doc);
  assert.ok(ops.length > 0, 'the OpenAPI document lists operations');
  const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();
  const auditBefore = Number(
    (
      await h.store.db
        .selectFrom('audit_log')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

  const rng = new Rng(SEED);
  const failures: Failure[] = [];
  const perRoute = new Map<string, { sent: number; ok: number; ms: number; statuses: Map<number, number> }>();
  const perMode = new Map<string, { n: number; ms: number }>();
  let okMutations = 0;
  let sentCount = 0;
  const started = Date.now();

  const one = async (sent: Sent) => {
    const opts: InjectOptions & { payloadAsStream: boolean } = {
      method: sent.method as InjectOptions['method'],
      url: sent.url,
      headers: sent.headers,
      payloadAsStream: true,
      ...(sent.payload === undefined ? {} : { payload: sent.payload }),
    };
    let status = 0;
    let why: string | undefined;
    let body = '';
    const t0 = performance.now();
    try {
      const res = await h.app.inject(opts);
      status = res.statusCode;
      const read = await readAll(res, READ_DEADLINE_MS);
      body = read.body;
      why = check(sent, status, String(res.headers['content-type'] ?? ''), body, read.timedOut);
    } catch (e) {
      why = `inject threw: ${(e as Error).message}`;
    }
    const stats = perRoute.get(sent.route) ?? { sent: 0, ok: 0, ms: 0, statuses: new Map() };
    stats.sent++;
    stats.ms += performance.now() - t0;
    const pm = perMode.get(sent.mode) ?? { n: 0, ms: 0 };
    pm.n++;
    pm.ms += performance.now() - t0;
    perMode.set(sent.mode, pm);
    stats.statuses.set(status, (stats.statuses.get(status) ?? 0) + 1);
    if (status >= 200 && status < 300) {
      stats.ok++;
      const audited = !/^(GET|HEAD|OPTIONS) /.test(`${sent.method} `) && sent.mode !== 'extra';
      if (
        audited &&
        !sent.route.includes('/auth/') &&
        !sent.route.includes('/agents/') &&
        // edge telemetry (WAF events, metrics, logs) is not a mutation people audit, like heartbeats
        !sent.route.includes('/edge/') &&
        sent.method === sent.route.split(' ')[0]
      ) {
        okMutations++;
      }
    }
    perRoute.set(sent.route, stats);
    if (why) failures.push({ sent, status, why, body: body.slice(0, 400) });
  };

  // CONCURRENCY requests in flight; the plan is drawn in order from the seeded generator.
  let next = 0;
  const lanes = Array.from({ length: CONCURRENCY }, async () => {
    while (next < TOTAL) {
      const sent = plan(rng, ops, next++);
      await one(sent);
      sentCount++;
    }
  });
  await Promise.all(lanes);
  const elapsed = Date.now() - started;

  // Report: coverage per documented route, then failures with the exact request.
  const lines = [...perRoute.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([route, s]) => {
      const st = [...s.statuses.entries()].sort(([a], [b]) => a - b).map(([c, k]) => `${c}×${k}`);
      return `#   ${route.padEnd(58)} sent ${String(s.sent).padStart(4)}  2xx ${String(s.ok).padStart(3)}  avg ${(s.ms / s.sent).toFixed(1).padStart(6)} ms  ${st.join(' ')}`;
    });
  const modes = [...perMode.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([m, s]) => `${m} ${s.n}×${(s.ms / s.n).toFixed(1)}ms`);
  console.log(
    `# ${sentCount} requests in ${elapsed} ms (${Math.round((sentCount * 1000) / elapsed)}/s)\n${lines.join('\n')}\n# body modes: ${modes.join(', ')}`,
  );
  if (failures.length) {
    const shown = failures.slice(0, 15).map((f) => {
      const payload = f.sent.payload === undefined ? '' : ` payload=${JSON.stringify(f.sent.payload.slice(0, 300))}`;
      return `#${f.sent.n} [${f.why}] ${f.sent.method} ${f.sent.url.slice(0, 200)} as ${f.sent.caller} (${f.sent.mode}) → ${f.status}${payload}\n    body: ${f.body}`;
    });
    const kinds = new Map<string, number>();
    for (const f of failures) kinds.set(`${f.why} — ${f.sent.route}`, (kinds.get(`${f.why} — ${f.sent.route}`) ?? 0) + 1);
    const summary = [...kinds.entries()].map(([k, c]) => `#   ${String(c).padStart(4)} × ${k}`);
    console.log(`# ${failures.length} failing requests (seed ${SEED}):\n${summary.join('\n')}\n${shown.join('\n')}`);
  }

  assert.ok(sentCount >= Math.min(TOTAL, 5000), `at least 5,000 requests were sent (${sentCount})`);
  for (const op of ops) {
    const s = perRoute.get(`${op.method} ${op.path}`);
    assert.ok(s && s.sent >= 10, `${op.method} ${op.path} got fewer than 10 requests`);
  }
  assert.deepEqual(
    failures
      .slice(0, 15)
      .map((f) => `#${f.sent.n} ${f.why}: ${f.sent.method} ${f.sent.url.slice(0, 120)} (${f.sent.caller}, ${f.sent.mode})`),
    [],
    `${failures.length} requests broke an invariant (seed ${SEED})`,
  );

  // Still alive and answering, nothing polluted, the store intact.
  assert.equal((await h.call(null, 'GET', '/healthz')).statusCode, 200);
  assert.equal((await h.call(null, 'GET', '/readyz')).json().status, 'ready');
  assert.equal((await h.call(h.owner.token, 'GET', '/api/v1/orgs')).statusCode, 200, 'the owner can still work');
  assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), protoBefore, 'Object.prototype untouched');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.deepEqual(await h.store.integrityCheck(), { ok: true, problems: [] });

  // Every successful mutation left an audit entry (same transaction as the change).
  const auditAfter = Number(
    (
      await h.store.db
        .selectFrom('audit_log')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );
  assert.ok(
    auditAfter - auditBefore >= okMutations,
    `${okMutations} successful mutations but only ${auditAfter - auditBefore} audit entries`,
  );
});
