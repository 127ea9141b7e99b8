/**
 * Purges reach every edge: a real control plane (in-process Fastify on 127.0.0.1), two real
 * edges linked to it only over HTTP (EdgeControlLink), and a real origin. A page is cached,
 * `POST /api/v1/environments/{id}/purge` is called, and the next request through each edge
 * goes to the origin again. One edge's link is cut (a TCP relay drops its connections) while a
 * purge is issued; it keeps serving its cache, and applies the purge when the link is back.
 *
 * The app server that would run the site is modelled by its row: the test points the
 * environment's placement and web port at the origin (what provisioning would allocate).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { type AddressInfo, connect, createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createSite, joinServer } from '@triplane/control/desired/test-support';
import { bumpRevision } from '@triplane/control/store/store';
import { createHarness, type Harness } from '@triplane/control/testing/harness';
import { EdgeControlLink, type EdgeHandle, startEdge } from '@triplane/edge';
import { silentLogger } from '@triplane/kernel';

interface Reply {
  status: number;
  xcache: string | undefined;
  body: string;
}

function get(port: number, host: string, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, xcache: res.headers['x-cache'] as string | undefined, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitFor(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A TCP relay to the API whose connections can be cut and refused, and restored. */
class Relay {
  readonly server: TcpServer;
  readonly #sockets = new Set<Socket>();
  open = true;
  constructor(target: number) {
    this.server = createTcpServer((client) => {
      if (!this.open) return client.destroy();
      const upstream = connect(target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.once('close', () => this.#sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
  }
  listen(): Promise<number> {
    return new Promise((r) => this.server.listen(0, '127.0.0.1', () => r((this.server.address() as AddressInfo).port)));
  }
  cut(): void {
    this.open = false;
    for (const s of this.#sockets) s.destroy();
  }
  close(): Promise<void> {
    this.cut();
    return new Promise((r) => this.server.close(() => r()));
  }
}

let h: Harness;
let apiPort: number;
let dir: string;
let origin: Server;
/** Origin requests per "host path". */
const hits = new Map<string, number>();
const closers: (() => Promise<void>)[] = [];
const hit = (host: string, path: string) => hits.get(`${host} ${path}`) ?? 0;

before(async () => {
  h = await createHarness();
  const api = await h.app.listen({ host: '127.0.0.1', port: 0 });
  apiPort = Number(new URL(api).port);
  dir = await mkdtemp(join(tmpdir(), 'triplane-edge-purge-'));
  origin = createServer((req, res) => {
    const key = `${req.headers.host} ${req.url}`;
    hits.set(key, (hits.get(key) ?? 0) + 1);
    const headers: Record<string, string> = { 'content-type': 'text/html', 'cache-control': 'public, max-age=300' };
    if (req.url?.startsWith('/tagged')) headers['cache-tag'] = 'cat_p_42,store';
    res.writeHead(200, headers);
    res.end(`<p>${key} #${hits.get(key)}</p>`);
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', () => r()));
});
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  await h.close().catch(() => {});
  await new Promise((r) => origin.close(r));
  await rm(dir, { recursive: true, force: true });
});

async function startLinkedEdge(name: string, apiUrl: string): Promise<{ edge: EdgeHandle; link: EdgeControlLink; port: number }> {
  const srv = await h.call(h.owner.token, 'POST', '/api/v1/servers', { name, role: 'edge' });
  assert.equal(srv.statusCode, 201, srv.body);
  const base = { listen: { http: '127.0.0.1:0' }, debugHeaders: true };
  const link = new EdgeControlLink({
    apiUrl,
    stateDir: join(dir, name),
    joinToken: srv.json().joinToken,
    base,
    watchWaitS: 5,
    heartbeatMs: 60_000,
    logger: silentLogger(),
  });
  const edge = await startEdge({ config: { ...base, sites: [] }, logger: silentLogger() });
  closers.push(
    () => link.stop(),
    () => edge.close(),
  );
  await link.connect();
  link.run(
    (cfg) => edge.reload(cfg),
    (site, commands) => edge.purge(site, commands),
  );
  return { edge, link, port: edge.address.port };
}

/** A WordPress site whose production environment runs on `serverId`, served by the origin. */
async function siteOnOrigin(name: string, domain: string, serverId: string): Promise<string> {
  const s = await createSite(h, h.owner.token, { name, domains: [domain] });
  const port = (origin.address() as AddressInfo).port;
  await h.store.transaction(async (trx) => {
    await trx
      .updateTable('environments')
      .set({
        server_ids: JSON.stringify([serverId]),
        runtime: JSON.stringify({ unixUser: `tp-${name}`, uidSlot: 1, webPorts: { [serverId]: port }, pinned: true }),
      })
      .where('id', '=', s.environmentId)
      .execute();
    await bumpRevision(trx);
  });
  return s.environmentId;
}

async function purge(envId: string, body: unknown): Promise<number> {
  const r = await h.call(h.owner.token, 'POST', `/api/v1/environments/${envId}/purge`, body);
  assert.equal(r.statusCode, 202, r.body);
  return r.json().seq as number;
}

test('a purge by url, tag or all reaches both edges; a disconnected edge applies it when it reconnects', {
  timeout: 120_000,
}, async () => {
  const app = await joinServer(h, 'app1', 'app', '127.0.0.1');
  const shop = await siteOnOrigin('shop', 'shop.test', app.id);
  await siteOnOrigin('blog', 'blog.test', app.id);

  const relay = new Relay(apiPort);
  const relayPort = await relay.listen();
  closers.push(() => relay.close());
  const e1 = await startLinkedEdge('edge1', `http://127.0.0.1:${relayPort}`);
  const e2 = await startLinkedEdge('edge2', `http://127.0.0.1:${apiPort}`);
  const edges = [e1, e2];
  for (const e of edges) {
    await waitFor('the sites to be routed', async () => (await get(e.port, 'shop.test', '/ready')).status === 200);
    await waitFor('the blog to be routed', async () => (await get(e.port, 'blog.test', '/ready')).status === 200);
  }

  /** Request through an edge; true when the origin was asked (a miss). */
  const missed = async (e: { port: number }, host: string, path: string): Promise<boolean> => {
    const before = hit(host, path);
    const r = await get(e.port, host, path);
    assert.equal(r.status, 200, r.body);
    return hit(host, path) > before;
  };
  const warm = async (host: string, path: string) => {
    for (const e of edges) {
      await missed(e, host, path);
      assert.equal(await missed(e, host, path), false, `${host}${path} is cached on :${e.port}`);
    }
  };
  const applied = (seq: number, es = edges) =>
    waitFor(`purge ${seq} on every edge`, () => es.every((e) => (e.link.purgeSeq ?? 0) >= seq));

  // By URL (path: every host and scheme of the environment).
  await warm('shop.test', '/page?x=1');
  await warm('shop.test', '/other');
  await applied(await purge(shop, { urls: ['/page?x=1'] }));
  for (const e of edges) {
    assert.equal(await missed(e, 'shop.test', '/page?x=1'), true, 'purged URL is a miss');
    assert.equal(await missed(e, 'shop.test', '/other'), false, 'other URLs stay cached');
  }
  // By absolute URL on the environment's domain.
  await applied(await purge(shop, { urls: ['http://shop.test/other'] }));
  for (const e of edges) assert.equal(await missed(e, 'shop.test', '/other'), true);

  // By tag, scoped to the environment: the blog's page with the same tag stays cached.
  await warm('shop.test', '/tagged/1');
  await warm('shop.test', '/untagged');
  await warm('blog.test', '/tagged/1');
  await applied(await purge(shop, { tags: ['cat_p_42'] }));
  for (const e of edges) {
    assert.equal(await missed(e, 'shop.test', '/tagged/1'), true, 'tagged page purged');
    assert.equal(await missed(e, 'shop.test', '/untagged'), false);
    assert.equal(await missed(e, 'blog.test', '/tagged/1'), false, "another site's objects with the same tag stay");
  }

  // Everything of the environment.
  await warm('shop.test', '/a');
  await warm('shop.test', '/b');
  await applied(await purge(shop, { all: true }));
  for (const e of edges) {
    assert.equal(await missed(e, 'shop.test', '/a'), true);
    assert.equal(await missed(e, 'shop.test', '/b'), true);
    assert.equal(await missed(e, 'blog.test', '/tagged/1'), false, 'other sites keep their cache');
  }

  // edge1 loses its control-plane link; a purge issued meanwhile reaches edge2 at once, and
  // edge1 (still serving its cache) when the link is back.
  await warm('shop.test', '/during');
  relay.cut();
  const seq = await purge(shop, { urls: ['/during'] });
  await applied(seq, [e2]);
  assert.equal(await missed(e2, 'shop.test', '/during'), true);
  assert.ok((e1.link.purgeSeq ?? 0) < seq, 'edge1 could not see the purge');
  assert.equal(await missed(e1, 'shop.test', '/during'), false, 'edge1 keeps serving its cache meanwhile');
  relay.open = true;
  await applied(seq, [e1]);
  assert.equal(await missed(e1, 'shop.test', '/during'), true, 'applied after reconnecting');
});

test('an edge started after purges does not replay them; one that restarts from its saved snapshot catches up', {
  timeout: 60_000,
}, async () => {
  const shop = (
    await h.store.db
      .selectFrom('environments')
      .innerJoin('sites', 'sites.id', 'environments.site_id')
      .select('environments.id')
      .where('sites.name', '=', 'shop')
      .executeTakeFirstOrThrow()
  ).id;
  const seq0 = await purge(shop, { all: true });
  const e3 = await startLinkedEdge('edge3', `http://127.0.0.1:${apiPort}`);
  await waitFor('edge3 to take its baseline', () => e3.link.purgeSeq === seq0);
  await waitFor('routing on edge3', async () => (await get(e3.port, 'shop.test', '/ready')).status === 200);
  await get(e3.port, 'shop.test', '/late');
  const before = hit('shop.test', '/late');
  await get(e3.port, 'shop.test', '/late');
  assert.equal(hit('shop.test', '/late'), before, 'cached, and no old purge replayed over it');

  // Restart edge3 from its saved snapshot while a purge happens in between: it starts from the
  // saved purge seq and applies the newer purge (its cache may hold pages cached from disk config).
  await e3.link.stop();
  await e3.edge.close();
  const seq1 = await purge(shop, { urls: ['/late'] });
  const base = { listen: { http: '127.0.0.1:0' }, debugHeaders: true };
  const link = new EdgeControlLink({
    apiUrl: `http://127.0.0.1:${apiPort}`,
    stateDir: join(dir, 'edge3'),
    base,
    watchWaitS: 5,
    logger: silentLogger(),
  });
  const saved = await link.loadPersisted();
  assert.ok(saved);
  assert.equal(link.purgeSeq, seq0, 'starts from the saved snapshot');
  const edge = await startEdge({ config: saved, logger: silentLogger() });
  closers.push(
    () => link.stop(),
    () => edge.close(),
  );
  const commands: string[] = [];
  await link.connect();
  link.run(
    (cfg) => edge.reload(cfg),
    (site, cmds) => {
      commands.push(...cmds.map((c) => `${site} ${JSON.stringify(c)}`));
      return edge.purge(site, cmds);
    },
  );
  await waitFor('the purge issued while edge3 was down', () => link.purgeSeq === seq1);
  assert.ok(
    commands.some((c) => c.includes('"url":"/late"')),
    commands.join('\n'),
  );
});
