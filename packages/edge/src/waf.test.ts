import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TriplaneError } from '@triplane/kernel';
import type { EdgeSnapshot, WafPolicy } from '@triplane/spec';
import { loadConfig } from './config.ts';
import { type EdgeHandle, startEdge } from './server.ts';
import { configFromSnapshot } from './snapshot.ts';
import { httpGet, rawRequest, startOrigin, type TestOrigin, waitFor } from './testing.ts';
import { wafRootText } from './waf-config.ts';
import { type WafEvent, WafEventShipper } from './waf-events.ts';

const CRS_PRESENT = existsSync('/usr/share/modsecurity-crs/rules/REQUEST-942-APPLICATION-ATTACK-SQLI.conf');
const SQLI = "/?id=1'%20or%20'1'='1";

const CUSTOM_RULES = `SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyNoFilesLimit 1024
SecRequestBodyLimitAction ProcessPartial
SecRule REQUEST_URI "@beginsWith /forbidden" "id:1000,phase:1,deny,status:403,log,msg:'forbidden path'"
SecRule ARGS "@contains xyz" "id:1001,phase:2,deny,status:403,log,msg:'xyz in %{MATCHED_VAR_NAME}',logdata:'%{MATCHED_VAR}'"
SecRule RESPONSE_STATUS "@streq 299" "id:1002,phase:3,deny,status:403,log,msg:'odd status'"
SecRule REQUEST_HEADERS:X-Drop "@streq 1" "id:1003,phase:1,drop,log,msg:'drop'"
`;

describe('edge WAF: in the request path', { skip: CRS_PRESENT ? false : 'Debian modsecurity-crs is not installed' }, () => {
  let dir: string;
  let origin: TestOrigin;
  let edge: EdgeHandle;
  const events: WafEvent[] = [];
  let cfg: (extra?: object) => object;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edge-waf-'));
    writeFileSync(join(dir, 'custom.conf'), CUSTOM_RULES);
    origin = await startOrigin((req, res) => {
      const status = req.url.startsWith('/odd') ? 299 : 200;
      res.writeHead(status, {
        'content-type': 'text/html',
        'cache-control': req.url.startsWith('/page') ? 'max-age=60' : 'no-store',
      });
      res.end(`<html>ok ${req.method} ${req.body.length}</html>`);
    });
    cfg = (extra = {}) => ({
      listen: { http: '127.0.0.1:0' },
      sites: [
        {
          name: 'blk',
          hosts: ['blk.example'],
          upstreams: [origin.url],
          cache: { profile: 'wordpress' },
          environmentId: 'env_0000000000000001',
          waf: { mode: 'block', log: join(dir, 'logs/blk.log'), auditLog: join(dir, 'logs/blk-audit.json') },
        },
        { name: 'det', hosts: ['det.example'], upstreams: [origin.url], waf: { mode: 'detect', log: join(dir, 'logs/det.log') } },
        { name: 'plain', hosts: ['plain.example'], upstreams: [origin.url], cache: { profile: 'generic' } },
        {
          name: 'custom',
          hosts: ['custom.example'],
          upstreams: [origin.url],
          cache: { profile: 'generic' },
          waf: {
            mode: 'block',
            rules: join(dir, 'custom.conf'),
            log: join(dir, 'logs/custom.log'),
            exclusions: [{ id: 1001, target: 'ARGS:allowed' }],
          },
        },
        { name: 'off', hosts: ['off.example'], upstreams: [origin.url], waf: { mode: 'off', rules: join(dir, 'missing.conf') } },
      ],
      ...extra,
    });
    edge = await startEdge({ config: cfg(), onWafEvent: (e) => events.push(e) });
  });

  after(async () => {
    await edge?.close();
    await origin?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const readLog = (name: string) => (existsSync(join(dir, 'logs', name)) ? readFileSync(join(dir, 'logs', name), 'latin1') : '');

  test('block: an SQL injection gets a plain 403 naming the request id, never reaches the origin, and is logged', async () => {
    const before = origin.hits;
    const r = await httpGet(edge.address.port, SQLI, { host: 'blk.example' });
    assert.equal(r.status, 403);
    const id = r.headers['x-request-id'] as string;
    assert.match(id, /^[a-z0-9]+-[a-z0-9]{6}$/);
    assert.ok(r.body.includes(`Request id: ${id}`));
    assert.doesNotMatch(r.body, /942|sql|\[id|anomaly/i, 'no rule details leak to the client');
    assert.equal(origin.hits, before);
    assert.ok(await waitFor(() => readLog('blk.log').includes(`[unique_id "${id}"]`)));
    const lines = readLog('blk.log')
      .split('\n')
      .filter((l) => l.includes(id));
    assert.ok(lines.some((l) => /\[id "942100"\]/.test(l) && /\[msg "[^"]+"\]/.test(l) && /\[data "[^"]*"\]/.test(l)));
    assert.ok(lines.some((l) => l.includes('Access denied with code 403') && l.includes('[id "949110"]')));
    assert.ok(await waitFor(() => readLog('blk-audit.json').includes(id)));
    const audit = readLog('blk-audit.json')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { transaction: { unique_id: string; messages: { details: { ruleId: string } }[] } })
      .find((a) => a.transaction.unique_id === id);
    assert.ok(audit?.transaction.messages.some((m) => m.details.ruleId === '942100'));
    const ev = events.find((e) => e.requestId === id);
    assert.ok(ev);
    assert.equal(ev.action, 'blocked');
    assert.equal(ev.status, 403);
    assert.equal(ev.environmentId, 'env_0000000000000001');
    assert.equal(ev.site, 'blk');
    assert.ok(ev.anomalyScore >= 5);
    assert.ok(ev.rules.some((x) => x.id === 942100 && x.msg.length > 0));
  });

  test('detect: the same request reaches the origin and is logged as detected', async () => {
    const before = origin.hits;
    const r = await httpGet(edge.address.port, SQLI, { host: 'det.example' });
    assert.equal(r.status, 200);
    assert.equal(origin.hits, before + 1);
    const id = r.headers['x-request-id'] as string;
    assert.equal(origin.seen.at(-1)?.headers['x-request-id'], id, 'the origin gets the same request id');
    assert.ok(await waitFor(() => readLog('det.log').includes(`[unique_id "${id}"]`)));
    assert.match(readLog('det.log'), /ModSecurity: Warning\. .*\[id "942100"\]/);
    assert.equal(events.find((e) => e.requestId === id)?.action, 'detected');
  });

  test('request bodies are inspected, then forwarded intact', async () => {
    const before = origin.hits;
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const bad = await httpGet(edge.address.port, '/form', {
      host: 'blk.example',
      method: 'POST',
      headers: form,
      body: "q=1' or '1'='1",
    });
    assert.equal(bad.status, 403);
    assert.equal(origin.hits, before);
    const body = `comment=${'hello world '.repeat(200)}&name=alice`;
    const ok = await httpGet(edge.address.port, '/form', { host: 'blk.example', method: 'POST', headers: form, body });
    assert.equal(ok.status, 200);
    assert.equal(origin.seen.at(-1)?.body, body);
  });

  test('a payload after kilobytes of padding in one value is still refused (no bypass by padding)', async () => {
    const before = origin.hits;
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const pad = 'lorem+ipsum+dolor+sit+amet+'.repeat(1200); // ~32 KB of one value
    const r = await httpGet(edge.address.port, '/form', {
      host: 'blk.example',
      method: 'POST',
      headers: form,
      body: `comment=${pad}1'+union+all+select+password+from+users--+${pad}`,
    });
    assert.equal(r.status, 403);
    assert.equal(origin.hits, before);
  });

  test('bodies past the inspection limit: the first bytes are inspected, the whole body is forwarded', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const early = await httpGet(edge.address.port, '/form', {
      host: 'custom.example',
      method: 'POST',
      headers: form,
      body: `a=xyz&b=${'x'.repeat(5000)}`,
    });
    assert.equal(early.status, 403);
    const body = `b=${'y'.repeat(5000)}&a=xyz`;
    const late = await httpGet(edge.address.port, '/form', { host: 'custom.example', method: 'POST', headers: form, body });
    assert.equal(late.status, 200, 'ProcessPartial: a payload after the limit is not seen (documented trade-off)');
    assert.equal(origin.seen.at(-1)?.body, body);
  });

  test('a rules file: phase 1 deny, phase 3 deny on the response, drop, and target exclusions', async () => {
    assert.equal((await httpGet(edge.address.port, '/forbidden', { host: 'custom.example' })).status, 403);
    assert.equal((await httpGet(edge.address.port, '/x?other=xyz', { host: 'custom.example' })).status, 403);
    assert.equal((await httpGet(edge.address.port, '/x?allowed=xyz', { host: 'custom.example' })).status, 200);
    const odd = await httpGet(edge.address.port, '/odd', { host: 'custom.example' });
    assert.equal(odd.status, 403, 'phase 3 refused the origin answer');
    const dropped = await rawRequest(edge.address.port, 'GET / HTTP/1.1\r\nHost: custom.example\r\nX-Drop: 1\r\n\r\n');
    assert.equal(dropped.closed, true);
    assert.equal(dropped.text, '');
    assert.ok(await waitFor(() => readLog('custom.log').includes('[id "1002"]')));
  });

  test('cache hits of a WAF site: the request is still inspected, never served by the fast path', async () => {
    const served = edge.fastPath.served;
    const a = await rawRequest(edge.address.port, 'GET /page HTTP/1.1\r\nHost: blk.example\r\nConnection: close\r\n\r\n');
    const b = await rawRequest(edge.address.port, 'GET /page HTTP/1.1\r\nHost: blk.example\r\nConnection: close\r\n\r\n');
    assert.match(a.text, /^HTTP\/1\.1 200/);
    assert.match(b.text, /^HTTP\/1\.1 200/);
    assert.match(b.text, /\r\nage: /i, 'the second answer is a cache hit');
    assert.equal(edge.fastPath.served, served, 'the fast path handed WAF-site hits to the slow path');
    const hitAttack = await httpGet(edge.address.port, "/page?x=1'%20or%20'1'='1", { host: 'blk.example' });
    assert.equal(hitAttack.status, 403);
    // a site without a WAF still gets fast-path hits
    await rawRequest(edge.address.port, 'GET /page HTTP/1.1\r\nHost: plain.example\r\nConnection: close\r\n\r\n');
    await rawRequest(edge.address.port, 'GET /page HTTP/1.1\r\nHost: plain.example\r\nConnection: close\r\n\r\n');
    assert.equal(edge.fastPath.served, served + 1);
  });

  test('PURGE is answered by the edge, not judged by CRS', async () => {
    const r = await httpGet(edge.address.port, '/page', { host: 'blk.example', method: 'PURGE' });
    assert.equal(r.status, 405, 'not in the purge ACL: the usual 405, not a WAF 403');
  });

  test('a reload reopens the log files (logrotate) and reuses the compiled engines', async () => {
    const engine = edge.current().sites[0]?.waf?.engine;
    renameSync(join(dir, 'logs/blk.log'), join(dir, 'logs/blk.log.1'));
    const t0 = performance.now();
    edge.reload(cfg());
    assert.ok(performance.now() - t0 < 500, 'unchanged rules are not recompiled');
    assert.equal(edge.current().sites[0]?.waf?.engine, engine);
    assert.equal(edge.current().sites[1]?.waf?.engine === engine, false, 'different settings, different engine');
    const r = await httpGet(edge.address.port, SQLI, { host: 'blk.example' });
    assert.equal(r.status, 403);
    assert.ok(await waitFor(() => readLog('blk.log').includes(r.headers['x-request-id'] as string)));
  });

  test('a bad rules file is a config error naming the field, the file and the line; the old config keeps serving', async () => {
    writeFileSync(join(dir, 'custom.conf'), `${CUSTOM_RULES}SecRule ARGS "@noSuchOperator x" "id:2000,phase:2,pass"\n`);
    assert.throws(
      () => edge.reload(cfg()),
      (e: TriplaneError) => {
        assert.equal(e.code, 'TRIPLANE_ERR_CONFIG');
        assert.match(e.message, /^sites\[3\]\.waf\.rules: .*custom\.conf:9: /);
        assert.equal((e.details as { field: string }).field, 'sites[3].waf.rules');
        return true;
      },
    );
    assert.equal((await httpGet(edge.address.port, '/forbidden', { host: 'custom.example' })).status, 403);
    writeFileSync(join(dir, 'custom.conf'), CUSTOM_RULES);
  });
});

describe('edge WAF: configuration', () => {
  test('defaults, camelCase fields, WordPress exclusions for wordpress/woocommerce profiles', () => {
    const c = loadConfig(
      {
        listen: { http: '127.0.0.1:0' },
        sites: [
          { name: 'a', hosts: ['a.example'], upstreams: [], cache: { profile: 'woocommerce' }, waf: { mode: 'block' } },
          {
            name: 'b',
            hosts: ['b.example'],
            upstreams: [],
            waf: {
              mode: 'detect',
              paranoia: 3,
              anomalyThreshold: { inbound: 10, outbound: 8 },
              exclusions: [920350, { id: 942100, target: 'ARGS:content' }],
              log: 'waf.log',
            },
          },
        ],
      },
      { baseDir: '/srv/edge' },
    );
    const a = c.sites[0]?.waf;
    const b = c.sites[1]?.waf;
    assert.ok(a && b);
    assert.deepEqual([a.paranoia, a.inbound, a.outbound, a.applications], [1, 5, 4, ['wordpress']]);
    assert.equal(b.log, '/srv/edge/waf.log');
    const ta = wafRootText(a);
    assert.match(ta, /SecRuleEngine On/);
    assert.match(ta, /setvar:tx\.crs_exclusions_wordpress=1/);
    assert.match(ta, /Include "\/etc\/modsecurity\/crs\/crs-setup\.conf"/);
    const tb = wafRootText(b);
    assert.match(tb, /SecRuleEngine DetectionOnly/);
    assert.match(tb, /tx\.paranoia_level=3/);
    assert.match(tb, /tx\.inbound_anomaly_score_threshold=10,setvar:tx\.outbound_anomaly_score_threshold=8/);
    assert.doesNotMatch(tb, /crs_exclusions/);
    assert.match(tb, /SecRuleRemoveById 920350\nSecRuleUpdateTargetById 942100 "!ARGS:content"/);
  });

  test('bad values are config errors naming the field', () => {
    const bad = (waf: unknown) => () =>
      loadConfig({ listen: { http: '127.0.0.1:0' }, sites: [{ name: 'a', hosts: ['a.example'], upstreams: [], waf }] });
    assert.throws(bad({ mode: 'block', paranoia: 5 }), /sites\[0\]\.waf\.paranoia/);
    assert.throws(bad({ mode: 'sometimes' }), /sites\[0\]\.waf\.mode/);
    assert.throws(bad({ mode: 'block', exclusions: [{ id: 1, target: 'ARGS:a" "id:1' }] }), /sites\[0\]\.waf\.exclusions/);
    assert.throws(bad({ mode: 'block', anomaly_threshold: { inbound: 5 } }), /sites\[0\]\.waf/);
  });
});

describe('edge WAF: events to the control plane', () => {
  test('batches, authenticates as the edge, retries after a failure, drops the oldest past the bound', async () => {
    const posts: { auth: string | undefined; events: { requestId: string; environmentId: string }[] }[] = [];
    let fail = 1;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (fail-- > 0) {
          res.writeHead(503).end();
          return;
        }
        posts.push({ auth: req.headers.authorization, ...JSON.parse(Buffer.concat(chunks).toString()) });
        res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":1,"ignored":0}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const shipper = new WafEventShipper({
      apiUrl: `http://127.0.0.1:${port}/`,
      credential: () => 'tpa_test',
      batchSize: 2,
      flushMs: 20,
      maxQueued: 3,
    });
    const ev = (n: number, environmentId: string | undefined): WafEvent => ({
      time: new Date().toISOString(),
      site: 's',
      environmentId,
      requestId: `r${n}`,
      clientIp: '192.0.2.1',
      method: 'GET',
      host: 'a.example',
      uri: '/',
      status: 403,
      action: 'blocked',
      anomalyScore: 5,
      outboundAnomalyScore: 0,
      rules: [{ id: 942100, msg: 'SQL Injection Attack Detected via libinjection' }],
    });
    for (let i = 1; i <= 5; i++) shipper.push(ev(i, 'env_0000000000000001'));
    shipper.push(ev(6, undefined)); // a file-configured site: not sent
    assert.ok(shipper.queued <= 3);
    assert.ok(await waitFor(() => shipper.queued === 0 && posts.length >= 2, 5000));
    await shipper.stop();
    server.close();
    const sent = posts.flatMap((p) => p.events.map((e) => e.requestId));
    assert.deepEqual(sent, ['r3', 'r4', 'r5']);
    assert.ok(posts.every((p) => p.auth === 'Bearer tpa_test'));
    assert.equal(shipper.stats.dropped, 2);
    assert.equal(shipper.stats.sent, 3);
  });
});

describe('edge WAF: from the control-plane snapshot', () => {
  const snap = (waf: WafPolicy): EdgeSnapshot =>
    ({
      apiVersion: 'triplane/v1',
      kind: 'EdgeSnapshot',
      revision: 1,
      generatedAt: '2026-01-01T00:00:00.000Z',
      sites: [],
      routes: [{ hostname: 'shop.example.com', environmentId: 'env_01abc', siteId: 'site_1', primary: true, redirectTo: null }],
      upstreams: [
        {
          environmentId: 'env_01abc',
          state: 'running',
          policy: 'round-robin',
          members: [{ serverId: 'srv_1', address: '127.0.0.1', port: 9 }],
          healthCheck: {
            path: '/',
            host: null,
            intervalMs: 5000,
            timeoutMs: 1000,
            healthyThreshold: 1,
            unhealthyThreshold: 3,
            expectStatusMin: 200,
            expectStatusMax: 399,
          },
          connectTimeoutMs: 1000,
          readTimeoutMs: 5000,
        },
      ],
      certificates: [],
      policies: [
        { environmentId: 'env_01abc', cache: { enabled: false }, waf, rate: { requestsPerSecond: 1, burst: 1, rules: [] } },
      ],
      purges: [],
      purgeSeq: 0,
    }) as unknown as EdgeSnapshot;
  const policy: WafPolicy = {
    enabled: true,
    mode: 'block',
    paranoiaLevel: 2,
    inboundAnomalyThreshold: 7,
    outboundAnomalyThreshold: 6,
    exclusionProfiles: ['wordpress', 'magento'],
    maxRequestBodyBytes: 2048,
    exclusions: [920350, { id: 942100, target: 'ARGS:content' }],
  };

  test('policies.waf → the site waf, environment id and log files; disabled → off', () => {
    const c = loadConfig(configFromSnapshot(snap(policy), { listen: { http: '127.0.0.1:0' }, wafLogDir: '/var/log/triplane' }));
    const s = c.sites[0];
    assert.ok(s?.waf);
    assert.equal(s.environmentId, 'env_01abc');
    assert.equal(s.maxBodyBytes, 2048);
    assert.deepEqual(
      [s.waf.mode, s.waf.paranoia, s.waf.inbound, s.waf.outbound, s.waf.applications],
      ['block', 2, 7, 6, ['wordpress']],
      'magento has no CRS 3.3 exclusion package',
    );
    assert.deepEqual(s.waf.exclusions, [
      { id: 920350, target: undefined },
      { id: 942100, target: 'ARGS:content' },
    ]);
    assert.equal(s.waf.log, '/var/log/triplane/env-01abc.log');
    assert.equal(s.waf.auditLog, '/var/log/triplane/env-01abc.audit.json');
    const off = loadConfig(configFromSnapshot(snap({ ...policy, enabled: false }), { listen: { http: '127.0.0.1:0' } }));
    assert.equal(off.sites[0]?.waf, undefined);
    assert.equal(off.sites[0]?.maxBodyBytes, 64 * 1024 * 1024);
  });
});
