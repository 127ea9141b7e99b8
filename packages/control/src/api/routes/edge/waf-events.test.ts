import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSite, joinServer } from '../../../desired/test-support.ts';
import { createHarness, type Harness } from '../../../testing/harness.ts';
import { pruneWafEvents } from './waf-events.ts';

const event = (environmentId: string, n: number, over: Record<string, unknown> = {}) => ({
  environmentId,
  time: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
  requestId: `abc-${String(n).padStart(6, '0')}`,
  clientIp: '192.0.2.7',
  method: 'GET',
  host: 'shop.example.test',
  uri: `/?id=${n}' or '1'='1`,
  status: 403,
  action: 'blocked',
  anomalyScore: 5,
  outboundAnomalyScore: 0,
  rules: [
    { id: 942100, msg: 'SQL Injection Attack Detected via libinjection' },
    { id: 949110, msg: 'Inbound Anomaly Score Exceeded (Total Score: 5)' },
  ],
  ...over,
});

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`${dialect}: WAF events`, () => {
    let h: Harness;
    let siteId: string;
    let envId: string;
    let edge: { id: string; credential: string };
    let app: { id: string; credential: string };
    const ingest = (token: string | null, body: unknown) => h.call(token, 'POST', '/api/v1/edge/waf-events', body);
    const list = (token: string | null, query = '') => h.call(token, 'GET', `/api/v1/environments/${envId}/waf/events${query}`);

    before(async () => {
      h = await createHarness({ dialect });
      const s = await createSite(h, h.owner.token, { name: 'wafsite', domains: ['shop.example.test'] });
      siteId = s.siteId;
      envId = s.environmentId;
      edge = await joinServer(h, 'edge-1', 'edge', '10.0.0.9');
      app = await joinServer(h, 'app-1', 'app', '10.0.0.10');
    });
    after(() => h.close());

    test('only edge servers post events; unknown environments are ignored, not refused', async () => {
      const body = { events: [event(envId, 1), event('env_0000000000000000', 2)] };
      assert.equal((await ingest(null, body)).statusCode, 401);
      assert.equal((await ingest(app.credential, body)).statusCode, 403);
      assert.equal((await ingest(h.owner.token, body)).statusCode, 403, 'users (even the owner) do not post events');
      const r = await ingest(edge.credential, body);
      assert.equal(r.statusCode, 202, r.body);
      assert.deepEqual(r.json(), { accepted: 1, ignored: 1 });
    });

    test('bad batches are 400 with the validation code', async () => {
      const bad: unknown[] = [
        {},
        { events: [] },
        { events: [{ ...event(envId, 3), action: 'allowed' }] },
        { events: [{ ...event(envId, 3), extra: 1 }] },
        { events: [{ ...event(envId, 3), requestId: 'has space' }] },
        { events: [{ ...event(envId, 3), uri: 'x'.repeat(2049) }] },
        { events: [{ ...event(envId, 3), rules: Array.from({ length: 21 }, (_, i) => ({ id: i, msg: '' })) }] },
        { events: Array.from({ length: 501 }, (_, i) => event(envId, i)) },
      ];
      for (const b of bad) {
        const r = await ingest(edge.credential, b);
        assert.equal(r.statusCode, 400, `${JSON.stringify(b).slice(0, 80)} → ${r.statusCode}`);
        assert.equal(r.json().error.code, 'TRIPLANE_ERR_VALIDATION');
      }
    });

    test('viewers and up on the site read them, newest first, with filters and a cursor; others 404', async () => {
      const more = [
        event(envId, 10, {
          action: 'detected',
          status: 200,
          rules: [{ id: 941100, msg: 'XSS Attack Detected via libinjection' }],
        }),
        event(envId, 11),
        event(envId, 12),
      ];
      assert.equal((await ingest(edge.credential, { events: more })).statusCode, 202);
      const siteViewer = await h.makeUser('viewer', { siteId });
      const other = await h.makeOrg('other-waf');
      assert.equal((await list(null)).statusCode, 401);
      assert.equal((await list(other.owner.token)).statusCode, 404);
      assert.equal((await list(edge.credential)).statusCode, 403);
      const all = await list(siteViewer.token);
      assert.equal(all.statusCode, 200, all.body);
      const items = all.json().items as { requestId: string; rules: { id: number }[]; edgeServerId: string; action: string }[];
      assert.deepEqual(
        items.map((e) => e.requestId),
        ['abc-000012', 'abc-000011', 'abc-000010', 'abc-000001'],
      );
      assert.equal(items[0]?.edgeServerId, edge.id);
      assert.deepEqual(
        items[0]?.rules.map((x) => x.id),
        [942100, 949110],
      );
      const xss = (await list(siteViewer.token, '?ruleId=941100')).json().items as { requestId: string }[];
      assert.deepEqual(
        xss.map((e) => e.requestId),
        ['abc-000010'],
      );
      assert.equal((await list(siteViewer.token, '?ruleId=94210')).json().items.length, 0, 'rule ids match whole');
      assert.equal((await list(siteViewer.token, '?action=detected')).json().items.length, 1);
      const since = (await list(siteViewer.token, `?since=${encodeURIComponent('2026-01-01T00:00:11Z')}`)).json().items;
      assert.equal(since.length, 2);
      const p1 = (await list(siteViewer.token, '?limit=3')).json();
      assert.equal(p1.items.length, 3);
      assert.ok(p1.nextCursor);
      const p2 = (await list(siteViewer.token, `?limit=3&cursor=${p1.nextCursor}`)).json();
      assert.deepEqual(
        p2.items.map((e: { requestId: string }) => e.requestId),
        ['abc-000001'],
      );
      assert.equal(p2.nextCursor, null);
      assert.equal((await list(siteViewer.token, '?cursor=nonsense')).statusCode, 400);
    });

    test('retention is bounded per environment', async () => {
      await h.store.transaction((trx) => pruneWafEvents(trx, envId, Date.now(), 2));
      const left = (await list(h.owner.token)).json().items as { requestId: string }[];
      assert.deepEqual(
        left.map((e) => e.requestId),
        ['abc-000012', 'abc-000011'],
      );
      // 31 days later everything has aged out
      await h.store.transaction((trx) => pruneWafEvents(trx, envId, Date.now() + 31 * 24 * 3600 * 1000));
      assert.equal((await list(h.owner.token)).json().items.length, 0);
    });
  });
}
