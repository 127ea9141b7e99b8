/**
 * The edge follows the control plane's snapshot and keeps serving without it:
 * a real control plane (in-process Fastify on 127.0.0.1) and a real edge (HTTP listener), linked
 * only over HTTP by EdgeControlLink.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createHarness, type Harness } from '@triplane/control/testing/harness';
import { EdgeControlLink, type EdgeHandle, startEdge } from '@triplane/edge';
import { silentLogger } from '@triplane/kernel';

function get(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let h: Harness;
let apiUrl: string;
let dir: string;
const closers: (() => Promise<void>)[] = [];

before(async () => {
  h = await createHarness();
  apiUrl = await h.app.listen({ host: '127.0.0.1', port: 0 });
  dir = await mkdtemp(join(tmpdir(), 'triplane-edge-link-'));
});
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  await h.close().catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

async function startLinkedEdge(joinToken?: string): Promise<{ edge: EdgeHandle; link: EdgeControlLink; port: number }> {
  const base = { listen: { http: '127.0.0.1:0' } };
  const link = new EdgeControlLink({
    apiUrl,
    stateDir: join(dir, 'state'),
    joinToken,
    base,
    watchWaitS: 2,
    heartbeatMs: 200,
    logger: silentLogger(),
  });
  const edge = await startEdge({ config: (await link.loadPersisted()) ?? { ...base, sites: [] }, logger: silentLogger() });
  closers.push(
    () => link.stop(),
    () => edge.close(),
  );
  return { edge, link, port: edge.address.port };
}

test('the edge joins, follows snapshot changes by long-poll, and serves the last good snapshot with the control plane down', async () => {
  const srv = await h.call(h.owner.token, 'POST', '/api/v1/servers', { name: 'edge1', role: 'edge' });
  assert.equal(srv.statusCode, 201, srv.body);
  const site = await h.call(h.owner.token, 'POST', '/api/v1/sites', {
    orgId: h.orgId,
    name: 'shop',
    kind: 'wordpress',
    plan: 'essentials',
    domains: ['shop.example.test'],
  });
  assert.equal(site.statusCode, 202, site.body);

  const first = await startLinkedEdge(srv.json().joinToken);
  await first.link.connect();
  first.link.run((cfg) => first.edge.reload(cfg));

  // The site's host is routed (no app server yet → no members → 503); an unknown host is 421.
  await waitFor('the snapshot to route shop.example.test', async () => (await get(first.port, 'shop.example.test')) === 503);
  assert.equal(await get(first.port, 'nope.example.test'), 421);
  const identity = await stat(join(dir, 'state', 'identity.json'));
  assert.equal(identity.mode & 0o777, 0o600, 'the credential file is 0600');

  // A new (non-primary) domain reaches the edge through the long-poll, without a restart: it
  // redirects to the primary.
  const envId = site.json().environment.id as string;
  const dom = await h.call(h.owner.token, 'POST', `/api/v1/environments/${envId}/domains`, { hostname: 'www.shop.example.test' });
  assert.equal(dom.statusCode, 201, dom.body);
  await waitFor('the new domain', async () => (await get(first.port, 'www.shop.example.test')) === 301);
  const online = await h.call(h.owner.token, 'GET', `/api/v1/servers/${first.link.serverId}`);
  assert.equal(online.json().status ?? online.json().server?.status, 'online');

  // Control plane down: the running edge keeps its routes…
  await h.app.close();
  assert.equal(await get(first.port, 'www.shop.example.test'), 301);
  // …and a restarted edge (no join token, no control plane) comes back with them from disk.
  await first.link.stop();
  await first.edge.close();
  const second = await startLinkedEdge();
  await second.link.connect();
  second.link.run((cfg) => second.edge.reload(cfg));
  assert.equal(await get(second.port, 'www.shop.example.test'), 301);
  assert.equal(await get(second.port, 'shop.example.test'), 503);
  assert.equal(await get(second.port, 'nope.example.test'), 421);
});
