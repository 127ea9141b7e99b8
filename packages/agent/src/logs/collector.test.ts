import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createSite, joinServer } from '@triplane/control/desired/test-support';
import { createHarness, type Harness } from '@triplane/control/testing/harness';
import type { AgentLogBatch, LogLine } from '@triplane/spec';
import { type LogContainer, SiteLogCollector } from './collector.ts';
import { FileTail, parseK8sRecord } from './k8s-file.ts';
import { continuesPrevious, nginxLine, phpLine } from './site-lines.ts';

/**
 * The collector on real files (written as conmon's k8s-file driver writes them, one also by a child
 * process mid-line) shipping to a REAL control plane (Fastify on a loopback port, both stores) through
 * `POST /agents/{id}/logs`, read back with `GET /environments/{id}/logs`.
 */

/** A k8s-file timestamp (ns precision, as conmon writes it) `ago` ms before now. */
const ts = (ago = 0) => `${new Date(Date.now() - ago).toISOString().slice(0, 23)}123456+00:00`;
const rec = (text: string, o: { ago?: number; stream?: string; flag?: 'F' | 'P' } = {}) =>
  `${ts(o.ago)} ${o.stream ?? 'stderr'} ${o.flag ?? 'F'} ${text}\n`;

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('parseK8sRecord: time to the ms, stream, partial flag, text; anything else is not a record', () => {
  const r = parseK8sRecord('2026-11-25T06:54:24.283541928+00:00 stderr F [25-Nov-2026 06:54:24] NOTICE: ready');
  assert.deepEqual(r, {
    at: Date.parse('2026-11-25T06:54:24.283Z'),
    stream: 'stderr',
    partial: false,
    text: '[25-Nov-2026 06:54:24] NOTICE: ready',
  });
  assert.equal(parseK8sRecord('2026-11-25T08:54:24.5+02:00 stdout P abc')?.at, Date.parse('2026-11-25T06:54:24.500Z'));
  assert.equal(parseK8sRecord('2026-11-25T06:54:24Z stdout F ')?.text, '');
  for (const bad of ['', 'hello', '2026-11-25 stdout F x', '2026-11-25T06:54:24Z stdin F x', '2026-13-45T99:99:99Z stdout F x'])
    assert.equal(parseK8sRecord(bad), undefined, bad);
});

test('nginxLine / phpLine: request context lifted, fpm notices left out, worker decoration and PHP prefix removed', () => {
  const n = nginxLine(
    '2026/11/25 06:54:24 [error] 7#7: *3 FastCGI sent in stderr: "PHP message: PHP Warning:  oops in /x.php on line 2" while reading response header from upstream, client: 10.88.0.1, server: _, request: "POST /wp-admin/x.php?a=1 HTTP/1.1", upstream: "fastcgi://127.0.0.1:9000", host: "shop.example.test", referrer: "http://shop.example.test/"',
    1000,
  );
  assert.equal(n?.source, 'nginx');
  assert.equal(n?.method, 'POST');
  assert.equal(n?.path, '/wp-admin/x.php?a=1');
  assert.equal(n?.host, 'shop.example.test');
  assert.equal(n?.ip, '10.88.0.1');
  assert.match(n?.message ?? '', /^\[error\] FastCGI sent in stderr: "PHP message: PHP Warning/);
  // Query secrets get the edge's redaction (spec sanitizePath) in the path and in the message.
  const secret = nginxLine(
    '2026/11/25 06:54:24 [error] 7#7: *4 open() "/var/lib/wordpress/x" failed (2: No such file or directory), client: 10.88.0.1, server: _, request: "GET /x?key=rp-secret-key&login=admin HTTP/1.1", host: "shop.example.test", referrer: "https://shop.example.test/wp-login.php?action=rp&key=rp-secret-key"',
    1000,
  );
  assert.equal(secret?.path, '/x?key=[redacted]&login=admin');
  assert.ok(!secret?.message.includes('rp-secret-key'), secret?.message);
  assert.match(secret?.message ?? '', /request: "GET \/x\?key=\[redacted\]&login=admin HTTP\/1\.1"/);
  assert.match(secret?.message ?? '', /referrer: "https:\/\/shop\.example\.test\/wp-login\.php\?\[redacted\]"/);
  assert.deepEqual(nginxLine('nginx: [emerg] unknown directive "x"', 5), {
    at: 5,
    source: 'nginx',
    message: 'nginx: [emerg] unknown directive "x"',
  });
  assert.equal(nginxLine('  ', 5), undefined);

  assert.equal(phpLine('[25-Nov-2026 06:54:24] NOTICE: fpm is running, pid 1', 1), undefined);
  assert.equal(phpLine('[25-Nov-2026 06:54:24] NOTICE: ready to handle connections', 1), undefined);
  assert.equal(
    phpLine('[25-Nov-2026 06:54:24] WARNING: [pool site] server reached pm.max_children setting (5), consider raising it', 1)
      ?.message,
    '[pool site] server reached pm.max_children setting (5), consider raising it',
  );
  assert.equal(
    phpLine('[25-Nov-2026 06:54:24] NOTICE: PHP message: PHP Deprecated:  x() is deprecated in /a.php on line 1', 1)?.message,
    'PHP Deprecated:  x() is deprecated in /a.php on line 1',
  );
  assert.equal(
    phpLine('[25-Nov-2026 06:54:24] WARNING: [pool site] child 12 said into stderr: "PHP message: PHP Warning:  y"', 1)?.message,
    'PHP Warning:  y',
  );
  assert.equal(
    phpLine('PHP Fatal error:  Uncaught Error: z in /b.php:3', 1)?.message,
    'PHP Fatal error:  Uncaught Error: z in /b.php:3',
  );
  // what a worker prints (no time), as seen from a real pod
  assert.equal(
    phpLine('NOTICE: PHP message: PHP Fatal error:  Uncaught Error: z in /b.php:3\nStack trace:\n#0 {main}', 1)?.message,
    'PHP Fatal error:  Uncaught Error: z in /b.php:3\nStack trace:\n#0 {main}',
  );
  assert.equal(continuesPrevious('php', '#0 {main}'), true);
  assert.equal(continuesPrevious('php', '  thrown in /b.php on line 3'), true);
  assert.equal(continuesPrevious('php', 'NOTICE: PHP message: PHP Warning:  w'), false);
  assert.equal(continuesPrevious('nginx', '  thrown in /b.php on line 3" while reading response header'), true);
  assert.equal(continuesPrevious('nginx', '2026/11/25 07:42:08 [error] 7#7: *1 x'), false);
  // an nginx line that FastCGI's multi-line stderr split, joined: its request context is at the end
  const joined = nginxLine(
    '2026/11/25 07:42:08 [error] 7#7: *1 FastCGI sent in stderr: "PHP message: PHP Fatal error:  Uncaught Error: z in /b.php:3\nStack trace:\n#0 {main}\n  thrown in /b.php on line 3" while reading response header from upstream, client: 10.89.0.1, server: _, request: "GET /b.php HTTP/1.1", upstream: "fastcgi://127.0.0.1:9000", host: "127.0.0.1:44993"',
    1,
  );
  assert.equal(joined?.path, '/b.php');
  assert.equal(joined?.host, '127.0.0.1:44993');
  assert.match(
    joined?.message ?? '',
    /^\[error\] FastCGI sent in stderr: "PHP message: PHP Fatal error: [^\n]*\nStack trace:\n#0 \{main\}\n/,
  );
  assert.equal(phpLine('x'.repeat(5000), 1)?.message.length, 2048, 'cut to the wire limit');
});

test('FileTail: complete lines only, a replaced or truncated file is read again from its start', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'triplane-tail-'));
  try {
    const f = join(dir, 'ctr.log');
    await writeFile(f, 'one\ntw');
    const t = new FileTail(f);
    assert.deepEqual((await t.read(1024)).lines, [{ text: 'one', start: 0 }]);
    await appendFile(f, 'o\n');
    assert.deepEqual((await t.read(1024)).lines, [{ text: 'two', start: 4 }]);
    assert.deepEqual((await t.read(1024)).lines, []);
    // rotated: a new file under the same name
    await writeFile(`${f}.new`, 'fresh\n');
    await rename(`${f}.new`, f);
    const r = await t.read(1024);
    assert.equal(r.rotated, true);
    assert.deepEqual(r.lines, [{ text: 'fresh', start: 0 }]);
    // truncated in place
    await writeFile(f, 'x\n');
    assert.deepEqual(await t.read(1024), { lines: [{ text: 'x', start: 0 }], rotated: true });
    // a line longer than the budget is taken whole rather than stalling
    await appendFile(f, `${'y'.repeat(100)}`);
    assert.deepEqual(
      (await t.read(50)).lines.map((l) => l.text.length),
      [50],
    );
    await assert.rejects(new FileTail(join(dir, 'missing')).read(10), { code: 'ENOENT' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`${dialect}: SiteLogCollector → POST /agents/{id}/logs`, () => {
    let h: Harness;
    let dir: string;
    let base: string;
    let envId: string;
    let app: { id: string; credential: string };
    const podName = 'shop-production';
    let containers: LogContainer[];
    const logOf = (name: string) => join(dir, `${name}.log`);

    /** The real route; `url` may be pointed at a closed port to play "control plane down". */
    let url = '';
    const post = async (b: AgentLogBatch) => {
      const r = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${app.credential}`, 'content-type': 'application/json' },
        body: JSON.stringify(b),
      });
      if (r.status !== 202) throw new Error(`POST /agents/…/logs: ${r.status} ${await r.text()}`);
      return r.json();
    };
    const read = async (query = '') => {
      const r = await h.call(h.owner.token, 'GET', `/api/v1/environments/${envId}/logs?limit=1000${query}`);
      assert.equal(r.statusCode, 200, r.body);
      return [...(r.json().items as LogLine[])].reverse();
    };
    const collector = (stateFile: string, over: Partial<ConstructorParameters<typeof SiteLogCollector>[0]> = {}) =>
      new SiteLogCollector({
        environments: () => [
          { id: envId, podName },
          { id: 'env_notthisone0000000', podName: 'gone-production' },
        ],
        post,
        stateFile,
        listContainers: async () => containers,
        intervalMs: 60_000,
        ...over,
      });

    before(async () => {
      h = await createHarness({ dialect });
      envId = (await createSite(h, h.owner.token, { name: 'shop', domains: ['shop.example.test'] })).environmentId;
      app = await joinServer(h, 'app-1', 'app', '10.0.0.10');
      await h.store.db
        .updateTable('environments')
        .set({ server_ids: JSON.stringify([app.id]) })
        .where('id', '=', envId)
        .execute();
      await h.app.listen({ port: 0, host: '127.0.0.1' });
      base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
      url = `${base}/api/v1/agents/${app.id}/logs`;
      dir = await mkdtemp(join(tmpdir(), 'triplane-sitelogs-'));
      // logs that existed before the agent ever ran: their history is not replayed
      await writeFile(logOf('web'), rec('2026/11/25 06:00:00 [error] 7#7: *1 old nginx history', { ago: 60_000 }));
      await writeFile(logOf('php'), rec('PHP Warning:  old php history', { ago: 60_000 }));
      await writeFile(logOf('redis'), rec('1:M Ready to accept connections', { stream: 'stdout' }));
      containers = [
        { id: 'c-web', podName, name: `${podName}-web`, logPath: logOf('web'), createdMs: Date.now() - 120_000 },
        { id: 'c-php', podName, name: `${podName}-php`, logPath: logOf('php'), createdMs: Date.now() - 120_000 },
        { id: 'c-redis', podName, name: `${podName}-redis`, logPath: logOf('redis'), createdMs: Date.now() - 120_000 },
      ];
    });
    after(async () => {
      await h.close();
      await rm(dir, { recursive: true, force: true });
    });

    test('new lines of nginx and php reach the environment log with their source; history, notices and other containers do not', async () => {
      const state = join(dir, 'state-1.json');
      const c = collector(state);
      await c.tick(); // first run: positions at the end of each log
      assert.deepEqual(await read(), []);
      await appendFile(
        logOf('web'),
        rec(
          '2026/11/25 06:54:24 [error] 7#7: *3 open() "/usr/share/wordpress/nope.css" failed (2: No such file or directory), client: 10.88.0.1, server: _, request: "GET /nope.css HTTP/1.1", host: "shop.example.test"',
        ),
      );
      // the nginx line of a PHP fatal error arrives as several records (the stack trace's newlines)
      await appendFile(
        logOf('web'),
        rec('2026/11/25 06:54:25 [error] 7#7: *4 FastCGI sent in stderr: "PHP message: PHP Fatal error:  nope() in /x.php:3') +
          rec('Stack trace:') +
          rec(
            '  thrown in /x.php on line 3" while reading response header from upstream, client: 10.88.0.1, server: _, request: "GET /x.php HTTP/1.1", upstream: "fastcgi://127.0.0.1:9000", host: "shop.example.test"',
          ),
      );
      await appendFile(
        logOf('php'),
        rec('[25-Nov-2026 06:54:24] NOTICE: fpm is running, pid 1') +
          rec('NOTICE: PHP message: PHP Fatal error:  Uncaught Error: Call to undefined function nope() in /var/www/x.php:3') +
          rec('Stack trace:') +
          rec('#0 {main}') +
          rec('  thrown in /var/www/x.php on line 3') +
          rec('PHP Warning:  a very long ', { flag: 'P' }) +
          rec('line split by conmon'),
      );
      await appendFile(logOf('redis'), rec('1:M # WARNING overcommit', { stream: 'stdout' }));
      await c.tick();
      const lines = await read();
      assert.deepEqual(
        lines.map((l) => `${l.source}:${l.kind}:${l.message}`),
        [
          'nginx:error:[error] open() "/usr/share/wordpress/nope.css" failed (2: No such file or directory), client: 10.88.0.1, server: _, request: "GET /nope.css HTTP/1.1", host: "shop.example.test"',
          'nginx:error:[error] FastCGI sent in stderr: "PHP message: PHP Fatal error:  nope() in /x.php:3\nStack trace:\n  thrown in /x.php on line 3" while reading response header from upstream, client: 10.88.0.1, server: _, request: "GET /x.php HTTP/1.1", upstream: "fastcgi://127.0.0.1:9000", host: "shop.example.test"',
          'php:error:PHP Fatal error:  Uncaught Error: Call to undefined function nope() in /var/www/x.php:3\nStack trace:\n#0 {main}\n  thrown in /var/www/x.php on line 3',
          'php:error:PHP Warning:  a very long line split by conmon',
        ],
      );
      assert.equal(lines[0]?.path, '/nope.css');
      assert.equal(lines[0]?.host, 'shop.example.test');
      assert.equal(lines[0]?.method, 'GET');
      assert.equal(lines[1]?.path, '/x.php', 'the joined line keeps its request context');
      assert.deepEqual(
        (await read('&source=php')).map((l) => l.source),
        ['php', 'php'],
      );
      await c.stop();
      const saved = JSON.parse(await readFile(state, 'utf8'));
      assert.deepEqual(Object.keys(saved.containers).sort(), ['c-php', 'c-web'], 'redis is not followed');
    });

    test('first run: what a container writes while the first `podman ps` runs is shipped, its history is not', async () => {
      const before = (await read()).length;
      let release: () => void = () => {};
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const c = collector(join(dir, 'state-race.json'), {
        listContainers: async () => {
          await gate;
          return containers;
        },
      });
      const first = c.tick(); // started: listing in progress
      await appendFile(logOf('php'), rec('PHP Warning:  while listing'));
      release();
      await first;
      assert.deepEqual(
        (await read()).slice(before).map((l) => l.message),
        ['PHP Warning:  while listing'],
      );
      await c.stop();
    });

    test('a line written in two pieces is shipped once, whole', async () => {
      const c = collector(join(dir, 'state-2.json'));
      await c.tick();
      const before = (await read()).length;
      // The writer's two write(2)s, with a collector tick between them (deterministic: no timing).
      await appendFile(logOf('php'), `${ts()} stderr F PHP Warning:  half`);
      await c.tick(); // sees only the first piece: nothing shipped yet
      assert.equal((await read()).length, before);
      await appendFile(logOf('php'), ' and the rest\n');
      await c.tick();
      assert.deepEqual(
        (await read()).slice(before).map((l) => l.message),
        ['PHP Warning:  half and the rest'],
      );
      await c.stop();
    });

    test('control plane down: lines wait (queue, then on disk), nothing lost; a restart resumes without repeats', async () => {
      const state = join(dir, 'state-3.json');
      let c = collector(state, { maxQueue: 3 });
      await c.tick();
      const before = (await read()).length;
      url = 'http://127.0.0.1:9/api/v1/agents/x/logs'; // nothing listens on port 9 (discard, not run here)
      const many = Array.from({ length: 8 }, (_, i) => rec(`PHP Notice:  n${i}`)).join('');
      await appendFile(logOf('php'), many);
      await c.tick();
      await c.tick();
      assert.ok(c.stats.failedPosts >= 2);
      assert.ok(c.queued >= 3 && c.queued <= 8, `queued ${c.queued}`);
      assert.equal((await read()).length, before);
      await c.stop(); // the agent stops (or crashes) with lines unshipped

      url = `${base}/api/v1/agents/${app.id}/logs`;
      c = collector(state, { maxQueue: 3 });
      await waitFor('all 8 lines', async () => {
        await c.tick();
        return (await read()).length - before >= 8;
      });
      await appendFile(logOf('web'), rec('2026/11/25 06:54:25 [warn] 7#7: *9 after the restart'));
      await c.tick();
      const got = (await read()).slice(before).map((l) => l.message);
      assert.deepEqual(got, [...Array.from({ length: 8 }, (_, i) => `PHP Notice:  n${i}`), '[warn] after the restart']);
      await c.stop();
    });

    test('a container created while the agent runs is read from its start; one replaced gets its new log', async () => {
      const c = collector(join(dir, 'state-4.json'));
      await c.tick();
      const before = (await read()).length;
      await writeFile(logOf('php2'), rec('[25-Nov-2026 06:54:24] NOTICE: fpm is running, pid 1') + rec('PHP Warning:  at start'));
      const old = containers;
      containers = [
        ...old.filter((x) => x.id !== 'c-php'),
        { id: 'c-php2', podName, name: `${podName}-php`, logPath: logOf('php2'), createdMs: Date.now() },
      ];
      await rm(logOf('php')); // the old container is gone with its log
      await c.tick(); // its read fails (ENOENT): list again
      await c.tick();
      assert.deepEqual(
        (await read()).slice(before).map((l) => l.message),
        ['PHP Warning:  at start'],
      );
      containers = old;
      await c.stop();
    });
  });
}
