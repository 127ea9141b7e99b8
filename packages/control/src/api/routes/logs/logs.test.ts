import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { FakeClock } from '@triplane/testkit';
import { createSite, joinServer } from '../../../desired/test-support.ts';
import { parseLogTime } from '../../../logs/filter.ts';
import { EnvironmentLogs, LOG_KEEP_MS } from '../../../logs/store.ts';
import { createHarness, type Harness } from '../../../testing/harness.ts';

type Line = Record<string, unknown> & { environmentId: string; kind: 'access' | 'error'; at: number };

/** A live SSE connection: events as they arrive, parsed. */
interface Stream {
  events: { id?: string; event: string; data: any }[];
  waitFor(pred: (e: { event: string; data: any }) => boolean, ms?: number): Promise<void>;
  close(): void;
}

async function openStream(port: number, token: string, path: string, headers: Record<string, string> = {}): Promise<Stream> {
  const ctl = new AbortController();
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', ...headers },
    signal: ctl.signal,
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const events: Stream['events'] = [];
  const waiters = new Set<() => void>();
  void (async () => {
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += dec.decode(chunk, { stream: true });
        for (let i = buf.indexOf('\n\n'); i !== -1; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev: { id?: string; event: string; data: any } = { event: 'message', data: undefined };
          let data: string | undefined;
          for (const l of block.split('\n')) {
            if (l.startsWith('id: ')) ev.id = l.slice(4);
            else if (l.startsWith('event: ')) ev.event = l.slice(7);
            else if (l.startsWith('data: ')) data = l.slice(6);
          }
          if (data === undefined) continue;
          ev.data = JSON.parse(data);
          events.push(ev);
          for (const w of waiters) w();
        }
      }
    } catch {
      // aborted
    }
  })();
  return {
    events,
    waitFor: (pred, ms = 5000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (events.some(pred)) {
            waiters.delete(check);
            clearTimeout(t);
            resolve();
          }
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no such event within ${ms} ms: ${JSON.stringify(events)}`));
        }, ms);
        waiters.add(check);
        check();
      }),
    close: () => ctl.abort(),
  };
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`${dialect}: environment logs routes`, () => {
    let h: Harness;
    const clock = new FakeClock(Date.now());
    let siteId: string;
    let envId: string;
    let otherEnvId: string;
    let edge: { id: string; credential: string };
    let app: { id: string; credential: string };
    let port: number;
    const post = (token: string | null, body: unknown) => h.call(token, 'POST', '/api/v1/edge/logs', body);
    const search = (token: string | null, query = '', id = envId) =>
      h.call(token, 'GET', `/api/v1/environments/${id}/logs${query}`);
    const access = (over: Partial<Line> = {}): Line => ({
      environmentId: envId,
      kind: 'access',
      at: clock.now(),
      requestId: 'req-1',
      method: 'GET',
      host: 'l.example.test',
      path: '/',
      status: 200,
      bytes: 512,
      ms: 3.5,
      cache: 'MISS',
      ip: '203.0.113.9',
      ua: 'Mozilla/5.0 (X11; Linux) Firefox/130.0',
      upstream: 'http://10.0.0.10:8001',
      upstreamMs: 2.1,
      ...over,
    });

    before(async () => {
      h = await createHarness({ dialect, clock });
      const s = await createSite(h, h.owner.token, { name: 'logsite', domains: ['l.example.test'] });
      siteId = s.siteId;
      envId = s.environmentId;
      otherEnvId = (await createSite(h, h.owner.token, { name: 'othersite', domains: ['o.example.test'] })).environmentId;
      edge = await joinServer(h, 'edge-1', 'edge', '10.0.0.9');
      app = await joinServer(h, 'app-1', 'app', '10.0.0.10');
      await h.app.listen({ port: 0, host: '127.0.0.1' });
      port = (h.app.server.address() as AddressInfo).port;
    });
    after(() => h.close());

    test('POST /edge/logs: edge servers only; unknown environments ignored; bad batches 400', async () => {
      const body = { lines: [access(), access({ environmentId: 'env_0000000000000000' })] };
      assert.equal((await post(null, body)).statusCode, 401);
      assert.equal((await post(app.credential, body)).statusCode, 403, 'app servers do not post edge logs');
      assert.equal((await post(h.owner.token, body)).statusCode, 403, 'users (even the owner) do not post logs');
      const r = await post(edge.credential, body);
      assert.equal(r.statusCode, 202, r.body);
      assert.deepEqual(r.json(), { accepted: 1, ignored: 1 });
      assert.deepEqual((await post(edge.credential, { lines: [], dropped: 3 })).json(), { accepted: 0, ignored: 0 });
      const bad: unknown[] = [
        {},
        { lines: [{ ...access(), cookie: 'secret' }] },
        { lines: [access({ path: `/${'a'.repeat(600)}` })] },
        { lines: [access({ kind: 'debug' as 'access' })] },
        { lines: [access({ status: 1000 })] },
        { lines: Array.from({ length: 501 }, () => access()) },
      ];
      for (const b of bad) {
        const res = await post(edge.credential, b);
        assert.equal(res.statusCode, 400, JSON.stringify(b).slice(0, 200));
        assert.equal(res.json().error.code, 'TRIPLANE_ERR_VALIDATION');
      }
    });

    test('GET /environments/{id}/logs: members of the site read it, newest first, with filters and cursor paging', async () => {
      const t0 = clock.now();
      const lines: Line[] = [
        access({ at: t0 - 8 * 60_000, path: '/old-page', status: 200 }),
        access({ at: t0 - 60_000, path: '/shop/Cart?add=1', status: 200, cache: 'HIT' }),
        access({ at: t0 - 50_000, path: '/missing', status: 404, ua: 'curl/8.5.0' }),
        access({ at: t0 - 40_000, path: '/checkout', status: 502, upstreamMs: undefined }),
        access({ at: t0 - 30_000, path: '/100%_sure', status: 503 }),
        {
          environmentId: envId,
          kind: 'error',
          at: t0 - 40_000,
          requestId: 'req-err',
          method: 'GET',
          path: '/checkout',
          status: 502,
          message: 'upstream timeout: no response from http://10.0.0.10:8001 after 2 attempts',
        },
        access({ environmentId: otherEnvId, path: '/other-site' }),
      ];
      const r = await post(edge.credential, { lines });
      assert.deepEqual(r.json(), { accepted: 7, ignored: 0 });

      const viewer = await h.makeUser('viewer', { siteId });
      const strangerOrg = await h.makeOrg('elsewhere');
      assert.equal((await search(viewer.token)).statusCode, 200);
      assert.equal((await search(strangerOrg.owner.token)).statusCode, 404);
      assert.equal((await search(null)).statusCode, 401);
      assert.equal((await search(edge.credential)).statusCode, 403);
      assert.equal((await search(viewer.token, '', otherEnvId)).statusCode, 404, 'a site-scoped viewer sees only that site');

      const all = (await search(viewer.token, '?limit=1000')).json();
      const paths = all.items.map((l: { path: string }) => l.path);
      // the batch of the first test, then this one, newest (highest id) first
      assert.deepEqual(paths.slice(0, 6), ['/checkout', '/100%_sure', '/checkout', '/missing', '/shop/Cart?add=1', '/old-page']);
      assert.equal(all.nextCursor, null);
      assert.ok(!paths.includes('/other-site'));
      const err = all.items.find((l: { kind: string }) => l.kind === 'error');
      assert.equal(err.environmentId, envId);
      assert.match(err.message, /upstream timeout/);
      assert.equal(err.at, new Date(t0 - 40_000).toISOString());
      const hit = all.items.find((l: { path: string }) => l.path === '/shop/Cart?add=1');
      assert.equal(hit.cache, 'HIT');
      assert.equal(hit.ua, 'Mozilla/5.0 (X11; Linux) Firefox/130.0');
      assert.equal(hit.bytes, 512);
      assert.equal(hit.upstreamMs, 2.1);
      assert.equal(hit.ip, '203.0.113.9');

      const pathsOf = async (q: string) =>
        (await search(viewer.token, q)).json().items.map((l: { path: string; kind: string }) => `${l.kind}:${l.path}`);
      assert.deepEqual(await pathsOf('?status=5xx'), ['error:/checkout', 'access:/100%_sure', 'access:/checkout']);
      assert.deepEqual(await pathsOf('?status=5xx&kind=access'), ['access:/100%_sure', 'access:/checkout']);
      assert.deepEqual(await pathsOf('?kind=error'), ['error:/checkout']);
      assert.deepEqual(await pathsOf('?status=404'), ['access:/missing']);
      assert.deepEqual(await pathsOf('?q=cart'), ['access:/shop/Cart?add=1'], 'case-insensitive substring of the path');
      assert.deepEqual(await pathsOf('?q=CURL%2F8'), ['access:/missing'], 'of the user agent');
      assert.deepEqual(await pathsOf('?q=timeout'), ['error:/checkout'], 'of the message');
      assert.deepEqual(await pathsOf('?q=100%25_'), ['access:/100%_sure'], '% and _ are literal');
      assert.deepEqual(await pathsOf('?q=0%25s'), [], 'not wildcards');
      assert.deepEqual(await pathsOf('?since=5m&status=2xx'), ['access:/shop/Cart?add=1', 'access:/'], 'since a duration');
      assert.deepEqual(
        await pathsOf(`?until=${encodeURIComponent(new Date(t0 - 45_000).toISOString())}&since=${t0 - 4 * 3_600_000}`),
        ['access:/missing', 'access:/shop/Cart?add=1', 'access:/old-page'],
        'until an ISO instant, since epoch ms',
      );
      for (const q of ['?since=yesterday', '?status=5x', '?until=12', '?kind=debug', '?limit=0', '?cursor=nope']) {
        const res = await search(viewer.token, q);
        assert.equal(res.statusCode, 400, q);
        assert.equal(res.json().error.code, 'TRIPLANE_ERR_VALIDATION', q);
      }

      // cursor paging walks every line once, newest first
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { items: { id: string }[]; nextCursor: string | null } = (
          await search(viewer.token, `?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
        ).json();
        assert.ok(page.items.length <= 2);
        seen.push(...page.items.map((l) => l.id));
        cursor = page.nextCursor;
      } while (cursor);
      assert.deepEqual(
        seen,
        all.items.map((l: { id: string }) => l.id),
      );
      assert.deepEqual([...seen].sort().reverse(), seen);
    });

    test('the stream sends a line posted after it connected, and resumes after Last-Event-ID', async () => {
      const url = `/api/v1/environments/${envId}/logs/stream`;
      const viewer = await h.makeUser('viewer', { siteId, email: `sv-${dialect}@example.test` });
      const s = await openStream(port, viewer.token, url);
      try {
        await new Promise((r) => setTimeout(r, 200)); // connected, its first poll done
        assert.equal(s.events.length, 0, 'lines stored before it connected are not sent');
        const t = Date.now();
        await post(edge.credential, { lines: [access({ path: '/live-1' }), access({ environmentId: otherEnvId, path: '/x' })] });
        await s.waitFor((e) => e.event === 'line' && e.data.path === '/live-1', 900);
        assert.ok(Date.now() - t < 900, 'pushed by the notifier, not waiting for a poll');
      } finally {
        s.close();
      }
      const last = s.events.at(-1)?.id as string;
      assert.match(last, /^log_/);
      assert.equal(s.events.length, 1, 'only this environment');

      // while nobody listens: two more lines, then resume after the last one seen
      await post(edge.credential, { lines: [access({ path: '/while-away-1' }), access({ path: '/while-away-2', status: 500 })] });
      const r = await openStream(port, viewer.token, url, { 'last-event-id': last });
      try {
        await r.waitFor((e) => e.data?.path === '/while-away-2');
        assert.deepEqual(
          r.events.map((e) => e.data.path),
          ['/while-away-1', '/while-away-2'],
        );
        // a line stored by another control-plane replica (no notifier here) arrives through the poll
        const replica = new EnvironmentLogs(h.store, clock);
        await replica.ingest({ lines: [access({ path: '/other-replica' })] });
        await r.waitFor((e) => e.data?.path === '/other-replica', 3000);
        assert.equal(new Set(r.events.map((e) => e.id)).size, r.events.length, 'no line twice');
      } finally {
        r.close();
      }

      // filters apply to the stream
      const f = await openStream(port, viewer.token, `${url}?status=5xx&after=${last}`);
      try {
        await f.waitFor((e) => e.data?.path === '/while-away-2');
        await new Promise((res) => setTimeout(res, 1200));
        assert.deepEqual(
          f.events.map((e) => e.data.path),
          ['/while-away-2'],
        );
      } finally {
        f.close();
      }
      const denied = await fetch(`http://127.0.0.1:${port}${url}`, { headers: { authorization: `Bearer ${edge.credential}` } });
      assert.equal(denied.status, 403);
      await denied.body?.cancel();
    });

    test('POST /agents/{id}/logs: site nginx/php error lines, only for environments placed on that app server; search and stream by source', async () => {
      const app2 = await joinServer(h, `app-2-${dialect}`, 'app', '10.0.0.11');
      await h.store.db
        .updateTable('environments')
        .set({ server_ids: JSON.stringify([app.id]) })
        .where('id', '=', envId)
        .execute();
      const postAgent = (token: string | null, id: string, body: unknown) =>
        h.call(token, 'POST', `/api/v1/agents/${id}/logs`, body);
      const php = {
        environmentId: envId,
        at: clock.now() - 1000,
        source: 'php',
        message:
          'PHP Fatal error:  Uncaught Error: Call to undefined function nope() in /var/www/x.php:3\nStack trace:\n#0 {main}',
      };
      const nginx = {
        environmentId: envId,
        at: clock.now() - 900,
        source: 'nginx',
        message: '[error] open() "/usr/share/nginx/missing.css" failed (2: No such file or directory)',
        method: 'GET',
        path: '/missing.css',
        host: 'l.example.test',
        ip: '10.88.0.1',
      };
      const body = { lines: [php, nginx, { ...php, environmentId: otherEnvId }] };
      assert.equal((await postAgent(null, app.id, body)).statusCode, 401);
      assert.equal((await postAgent(edge.credential, edge.id, body)).statusCode, 403, 'edges post /edge/logs');
      assert.equal((await postAgent(app.credential, app2.id, body)).statusCode, 403, 'not for another server');
      assert.equal((await postAgent(h.owner.token, app.id, body)).statusCode, 403);
      assert.deepEqual(
        (await postAgent(app2.credential, app2.id, body)).json(),
        { accepted: 0, ignored: 3 },
        'not placed on app-2',
      );

      const viewer = await h.makeUser('viewer', { siteId, email: `site-logs-${dialect}@example.test` });
      const s = await openStream(port, viewer.token, `/api/v1/environments/${envId}/logs/stream?source=php`);
      try {
        await new Promise((r) => setTimeout(r, 200));
        const r = await postAgent(app.credential, app.id, body);
        assert.equal(r.statusCode, 202, r.body);
        assert.deepEqual(r.json(), { accepted: 2, ignored: 1 }, 'the other environment is not placed on app-1');
        await s.waitFor((e) => e.event === 'line' && e.data.source === 'php');
        await new Promise((r) => setTimeout(r, 1200)); // a poll too: still nothing but the php line
        assert.deepEqual(
          s.events.map((e) => `${e.data.source}:${e.data.kind}`),
          ['php:error'],
        );
      } finally {
        s.close();
      }

      const items = async (q: string) => (await search(viewer.token, q)).json().items as Record<string, unknown>[];
      const phpLines = await items('?source=php');
      assert.equal(phpLines.length, 1);
      assert.equal(phpLines[0]?.kind, 'error');
      assert.equal(phpLines[0]?.message, php.message);
      assert.equal(phpLines[0]?.at, new Date(php.at).toISOString());
      const ngx = await items('?source=nginx');
      assert.deepEqual(
        { ...ngx[0], id: undefined },
        {
          id: undefined,
          environmentId: envId,
          at: new Date(nginx.at).toISOString(),
          source: 'nginx',
          kind: 'error',
          method: 'GET',
          host: 'l.example.test',
          path: '/missing.css',
          ip: '10.88.0.1',
          message: nginx.message,
        },
      );
      const edgeLines = await items('?source=edge&limit=1000');
      assert.ok(edgeLines.length > 0);
      assert.ok(
        edgeLines.every((l) => l.source === 'edge'),
        'edge lines (stored before migration 009 too) say edge',
      );
      assert.deepEqual(
        (await items('?kind=error&q=undefined%20function')).map((l) => l.source),
        ['php'],
      );
      assert.deepEqual(
        (await items('?q=missing.css')).map((l) => l.source),
        ['nginx'],
        'the path nginx reported is searched',
      );
      const res = await search(viewer.token, '?source=apache');
      assert.equal(res.statusCode, 400);
      assert.equal(res.json().error.code, 'TRIPLANE_ERR_VALIDATION');

      const bad: unknown[] = [
        {},
        { lines: [{ ...php, source: 'edge' }] },
        { lines: [{ ...php, kind: 'access' }] },
        { lines: [{ ...php, message: '' }] },
        { lines: [{ ...php, message: 'x'.repeat(2049) }] },
        { lines: [{ ...php, cookie: 'secret' }] },
        { lines: Array.from({ length: 101 }, () => php) },
      ];
      for (const b of bad) {
        const r = await postAgent(app.credential, app.id, b);
        assert.equal(r.statusCode, 400, JSON.stringify(b).slice(0, 200));
        assert.equal(r.json().error.code, 'TRIPLANE_ERR_VALIDATION');
      }

      // error lines are capped per source: a PHP flood never pushes the edge's errors out
      const capped = await createSite(h, h.owner.token, { name: `capsite-${dialect}`, domains: [`cap-${dialect}.example.test`] });
      await h.store.db
        .updateTable('environments')
        .set({ server_ids: JSON.stringify([app.id]) })
        .where('id', '=', capped.environmentId)
        .execute();
      const logs = new EnvironmentLogs(h.store, clock, { keepAccess: 3, keepError: 1 });
      const e = capped.environmentId;
      await logs.ingest({ lines: [{ environmentId: e, kind: 'error', at: clock.now(), message: 'edge-1' }] });
      await logs.ingestSite(app.id, {
        lines: [1, 2, 3].map((i) => ({ environmentId: e, at: clock.now(), source: 'php' as const, message: `php-${i}` })),
      });
      await logs.pruneEnvironment(e);
      assert.deepEqual(
        (await search(h.owner.token, '', e)).json().items.map((l: { message: string }) => l.message),
        ['php-3', 'edge-1'],
      );
    });

    test('retention: lines past 24 h and past the per-environment cap are deleted on ingest (fake clock)', async () => {
      const before = (await search(h.owner.token, '?limit=1000')).json().items.length;
      assert.ok(before > 5);
      // edge clocks are not trusted beyond 10 min back or at all ahead
      await post(edge.credential, {
        lines: [access({ at: 0, path: '/ancient' }), access({ at: clock.now() + 3_600_000, path: '/future' })],
      });
      const clamped = (await search(h.owner.token, '?q=/ancient')).json().items[0];
      assert.equal(clamped.at, new Date(clock.now() - 10 * 60_000).toISOString());
      assert.equal((await search(h.owner.token, '?q=/future')).json().items[0].at, new Date(clock.now()).toISOString());

      clock.advance(LOG_KEEP_MS + 120_000);
      await post(edge.credential, { lines: [access({ path: '/fresh' })] });
      const left = (await search(h.owner.token, '?limit=1000')).json().items.map((l: { path: string }) => l.path);
      assert.deepEqual(left, ['/fresh']);

      // the count cap, per environment and kind (a small cap here)
      const logs = new EnvironmentLogs(h.store, clock, { keepAccess: 3, keepError: 1 });
      await logs.ingest({
        lines: [
          ...Array.from({ length: 6 }, (_, i) => access({ path: `/n${i}` })),
          { environmentId: envId, kind: 'error', at: clock.now(), message: 'e1' },
          { environmentId: envId, kind: 'error', at: clock.now(), message: 'e2' },
          access({ environmentId: otherEnvId, path: '/o' }),
        ],
      });
      const items = (await search(h.owner.token, '?limit=1000')).json().items;
      assert.deepEqual(
        items.map((l: { path?: string; message?: string }) => l.path ?? l.message),
        ['e2', '/n5', '/n4', '/n3'],
      );
      assert.equal((await search(h.owner.token, '', otherEnvId)).json().items.length, 1, 'other environments untouched');
    });
  });
}

test('parseLogTime: durations, epoch ms, ISO; anything else is a validation error', () => {
  const now = Date.parse('2026-05-01T12:00:00Z');
  assert.equal(parseLogTime('90s', now), now - 90_000);
  assert.equal(parseLogTime('15m', now), now - 900_000);
  assert.equal(parseLogTime('1h', now), now - 3_600_000);
  assert.equal(parseLogTime('1d', now), now - 86_400_000);
  assert.equal(parseLogTime('1777636800000', now), 1777636800000);
  assert.equal(parseLogTime('2026-05-01T11:00:00Z', now), now - 3_600_000);
  for (const bad of ['', '1w', 'yesterday', '12', '2026-13-45', '-1h']) {
    assert.throws(() => parseLogTime(bad, now), { code: 'TRIPLANE_ERR_VALIDATION' }, bad);
  }
});
