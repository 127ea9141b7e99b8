/**
 * Integration (root + Podman + the platform images): a REAL site pod's nginx and PHP errors reach
 * `GET /environments/{id}/logs?source=php|nginx` of a REAL control plane through the collector
 * (default container listing: `podman ps` + `podman inspect`, the k8s-file logs conmon writes).
 * Skips with a reason unless root with podman and the current images built (`triplane images build`).
 *
 *   node scripts/test.ts packages/agent/src/logs/site-logs-pod.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createSite, joinServer } from '@triplane/control/desired/test-support';
import { createHarness } from '@triplane/control/testing/harness';
import { applyEnvironment, computeImageTags, generateEnvironmentSecrets, removeEnvironment, run } from '@triplane/runtime';
import { http, waitFor } from '@triplane/runtime/integration/http';
import { podmanTestsOneAtATime } from '@triplane/runtime/integration/one-at-a-time';
import { essentialsSpec } from '@triplane/runtime/pod/fixtures';
import type { LogLine } from '@triplane/spec';
import { freePort } from '@triplane/testkit';
import { SiteLogCollector } from './collector.ts';

podmanTestsOneAtATime();

const log = (m: string) => process.stderr.write(`# ${m}\n`);

/** The current recipes' image tags, when all are built (this test never builds images). */
async function builtImages(): Promise<Record<string, string> | string> {
  if (process.getuid?.() !== 0) return 'needs root: rootful Podman with a user namespace per environment';
  if ((await run('podman', ['--version'], { allowFailure: true }).catch(() => ({ code: 1 }))).code !== 0)
    return 'podman is not installed';
  const tags = await computeImageTags().catch(() => ({}) as Record<string, string>);
  for (const name of ['web', 'php', 'redis', 'mariadb']) {
    const tag = tags[name];
    if (!tag || (await run('podman', ['image', 'exists', tag], { allowFailure: true })).code !== 0)
      return `image ${name} of the current recipe is not built: run \`triplane images build\``;
  }
  return tags;
}

test("a real pod's PHP warning, PHP fatal error and nginx error show up by source", { timeout: 10 * 60_000 }, async (t) => {
  const images = await builtImages();
  if (typeof images === 'string') return t.skip(images);
  const h = await createHarness({ dialect: 'sqlite' });
  const dir = await mkdtemp(join(tmpdir(), 'triplane-sitelogs-it-'));
  const spec = essentialsSpec({
    siteId: 'itlogs',
    envName: 'test',
    uidSlot: 15020,
    images: {
      web: images.web as string,
      php: images.php as string,
      redis: images.redis as string,
      mariadb: images.mariadb as string,
    },
    web: { hostPort: await freePort() },
    volumes: { wpContent: 'itlogs-test-wp-content', dbData: 'itlogs-test-db-data' },
    secrets: {
      dbPassword: { secret: 'itlogs-test-secrets', key: 'db-password' },
      wpSalt: { secret: 'itlogs-test-secrets', key: 'wp-salt' },
    },
  });
  await removeEnvironment(spec, { purge: true, podDir: dir });
  let collector: SiteLogCollector | undefined;
  t.after(async () => {
    await collector?.stop();
    await removeEnvironment(spec, { purge: true, podDir: dir });
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  const envId = (await createSite(h, h.owner.token, { name: 'itlogs', domains: ['itlogs.example.test'] })).environmentId;
  const app = await joinServer(h, 'app-it', 'app', '127.0.0.1');
  await h.store.db
    .updateTable('environments')
    .set({ server_ids: JSON.stringify([app.id]) })
    .where('id', '=', envId)
    .execute();
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  const api = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}/api/v1`;

  const t0 = Date.now();
  const pod = await applyEnvironment(spec, { secrets: generateEnvironmentSecrets(), podDir: dir });
  collector = new SiteLogCollector({
    environments: () => [{ id: envId, podName: pod.name }],
    post: async (b) => {
      const r = await fetch(`${api}/agents/${app.id}/logs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${app.credential}`, 'content-type': 'application/json' },
        body: JSON.stringify(b),
      });
      if (r.status !== 202) throw new Error(`${r.status} ${await r.text()}`);
    },
    stateFile: join(dir, 'site-logs.json'),
    intervalMs: 500,
  });
  collector.start();
  const base = `http://127.0.0.1:${spec.web.hostPort}`;
  await waitFor(`${base}/triplane-health`, (r) => r.status === 200, 180_000);
  log(`pod up in ${Date.now() - t0} ms`);

  // a plugin file that warns, then dies on an undefined function (the volume is the site's wp-content)
  const php = '<?php\ntrigger_error("tp-sitelogs-probe-warning", E_USER_WARNING);\ntp_sitelogs_undefined_function();\n';
  const put = await run(
    'podman',
    [
      'exec',
      '-i',
      '-u',
      'www-data',
      `${pod.name}-php`,
      'sh',
      '-c',
      'cat > /var/lib/wordpress/wp-content/plugins/tp-sitelogs.php',
    ],
    { input: php, allowFailure: true },
  );
  assert.equal(put.code, 0, put.stderr);
  assert.equal((await http(`${base}/wp-content/plugins/tp-sitelogs.php`)).status, 500);
  assert.equal((await http(`${base}/wp-content/tp-sitelogs-missing.css`)).status, 404);

  const search = async (q: string): Promise<LogLine[]> => {
    const r = await h.call(h.owner.token, 'GET', `/api/v1/environments/${envId}/logs?limit=1000&${q}`);
    assert.equal(r.statusCode, 200, r.body);
    return r.json().items;
  };
  const deadline = Date.now() + 30_000;
  let phpLines: LogLine[] = [];
  let nginxLines: LogLine[] = [];
  while (Date.now() < deadline) {
    phpLines = await search('source=php');
    nginxLines = await search('source=nginx');
    const fatal = phpLines.some((l) => /PHP Fatal error: .*tp_sitelogs_undefined_function/.test(l.message ?? ''));
    const missing = nginxLines.some((l) => l.path === '/wp-content/tp-sitelogs-missing.css');
    if (fatal && missing) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  log(`collector: ${JSON.stringify(collector.stats)}, queued ${collector.queued}`);
  log(`php lines: ${JSON.stringify(phpLines.map((l) => l.message))}`);
  log(`nginx lines: ${JSON.stringify(nginxLines.map((l) => [l.path, l.message]))}`);
  if (phpLines.length === 0 || nginxLines.length === 0)
    for (const c of ['web', 'php']) {
      const out = await run('podman', ['logs', '--tail', '20', `${pod.name}-${c}`], { allowFailure: true });
      log(`podman logs ${c}: ${JSON.stringify(`${out.stdout}${out.stderr}`.slice(-3000))}`);
    }
  const fatal = phpLines.find((l) => /PHP Fatal error: .*tp_sitelogs_undefined_function/.test(l.message ?? ''));
  assert.ok(fatal, 'the fatal error is in the php source');
  assert.equal(fatal.kind, 'error');
  assert.match(
    fatal.message ?? '',
    /^PHP Fatal error: [^\n]*\nStack trace:\n#0 \{main\}\n {2}thrown in /,
    'with its stack trace',
  );
  assert.ok(Math.abs(Date.parse(fatal.at) - Date.now()) < 60_000, 'stamped with the container log time');
  assert.ok(
    phpLines.some((l) => /PHP Warning: .*tp-sitelogs-probe-warning/.test(l.message ?? '')),
    'the warning too',
  );
  assert.ok(!phpLines.some((l) => /NOTICE: (fpm is running|ready to handle)/.test(l.message ?? '')), 'no fpm start notices');
  const missing = nginxLines.find((l) => l.path === '/wp-content/tp-sitelogs-missing.css');
  assert.ok(missing, 'the missing file is in the nginx source, with its request');
  assert.equal(missing.method, 'GET');
  assert.match(missing.message ?? '', /^\[error\] open\(\) .*tp-sitelogs-missing\.css" failed/);
  // nginx's copy of the PHP errors: one line (FastCGI's multi-line stderr joined back), with the request
  const viaNginx = nginxLines.find((l) => l.path === '/wp-content/plugins/tp-sitelogs.php');
  assert.ok(viaNginx, 'the FastCGI stderr line, with its request');
  assert.match(
    viaNginx.message ?? '',
    /^\[error\] FastCGI sent in stderr: "PHP message: PHP Warning: [\s\S]*thrown in [^\n]*" while reading/,
  );
  assert.equal(nginxLines.length, 2, 'and nothing else');
  assert.equal(collector.stats.failedPosts, 0);
});
