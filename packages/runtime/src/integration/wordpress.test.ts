/**
 * Integration (root only): builds the images (cached), plays one WordPress pod with
 * `podman kube play --replace` in its own user namespace, installs WordPress through
 * POST /wp-admin/install.php?step=2, checks the home page, isolation facts and limits,
 * replays the pod (data survives), then removes everything it created.
 *
 *   node --test packages/runtime/src/integration/wordpress.test.ts
 */

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { run } from '../exec.ts';
import { prepareHost } from '../host/prepare.ts';
import { buildImages } from '../images/build.ts';
import { essentialsSpec } from '../pod/fixtures.ts';
import { generateEnvironmentSecrets } from '../pod/secret.ts';
import { applyEnvironment, podContainers, removeEnvironment } from '../podman/driver.ts';
import { http, waitFor } from './http.ts';
import { podmanTestsOneAtATime } from './one-at-a-time.ts';
import { installWordPress } from './wp-install.ts';

podmanTestsOneAtATime();

const isRoot = process.getuid?.() === 0;

async function podPidsMax(name: string): Promise<string> {
  const r = await run('podman', ['pod', 'inspect', name, '--format', '{{.CgroupPath}}']);
  return (await readFile(`/sys/fs/cgroup/pids${r.stdout.trim()}/pids.max`, 'utf8')).trim();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

const log = (m: string) => process.stderr.write(`# ${m}\n`);

test('WordPress pod: build, play, install, 200 with generator tag, replay, teardown', { timeout: 30 * 60_000 }, async (t) => {
  if (!isRoot) {
    t.skip('needs root: rootful podman with --userns per environment (run as root or via `make test`)');
    return;
  }
  await prepareHost({ onProgress: (m) => log(`host: ${m}`) });
  const t0 = Date.now();
  const images = await buildImages({
    onProgress: (p) =>
      p.step === 'image.built' || p.step === 'rootfs.import'
        ? log(`images: ${p.step} ${p.image} at ${p.elapsedMs} ms`)
        : undefined,
  });
  log(`images ready in ${Date.now() - t0} ms (built: ${images.built.join(',') || 'none'})`);

  const port = await freePort();
  const podDir = await mkdtemp(join(tmpdir(), 'triplane-it-'));
  const spec = essentialsSpec({
    siteId: 'itwp',
    envName: 'test',
    uidSlot: 15000,
    images: {
      web: images.tags.web as string,
      php: images.tags.php as string,
      redis: images.tags.redis as string,
      mariadb: images.tags.mariadb as string,
    },
    web: { hostPort: port },
    volumes: { wpContent: 'itwp-test-wp-content', dbData: 'itwp-test-db-data' },
    secrets: {
      dbPassword: { secret: 'itwp-test-secrets', key: 'db-password' },
      wpSalt: { secret: 'itwp-test-secrets', key: 'wp-salt' },
    },
  });
  const secrets = generateEnvironmentSecrets();
  await removeEnvironment(spec, { purge: true, podDir }); // leftovers of a crashed run
  t.after(async () => {
    await removeEnvironment(spec, { purge: true, podDir });
    await rm(podDir, { recursive: true, force: true });
  });

  const base = `http://127.0.0.1:${port}`;
  const tPlay = Date.now();
  const pod = await applyEnvironment(spec, { secrets, podDir });
  const playMs = Date.now() - tPlay;
  const first = await waitFor(`${base}/`, (r) => r.status === 200 || r.status === 302, 120_000);
  log(`kube play returned after ${playMs} ms; first response (${first.res.status}) ${Date.now() - tPlay} ms after play started`);
  // Fresh site: WordPress redirects to the installer.
  const installPage = await waitFor(`${base}/wp-admin/install.php`, (r) => r.status === 200, 60_000);
  assert.match(installPage.res.body, /WordPress/);

  const adminPassword = 'Tp-' + secrets['wp-salt']?.slice(0, 20);
  const install = await installWordPress(base, {
    title: 'Triplane IT',
    user: 'admin',
    password: adminPassword,
    email: 'admin@example.com',
  });
  assert.equal(install.status, 200, install.body.slice(0, 500));
  assert.match(install.body, /Success!|already installed/);
  const home = await http(`${base}/`);
  assert.equal(home.status, 200);
  assert.match(home.body, /<meta name="generator" content="WordPress 6\.1\.\d+"/);
  assert.match(home.body, /<title>Triplane IT<\/title>/);
  log(`installed; home page ${home.body.length} bytes; total from play to installed home ${Date.now() - tPlay} ms`);

  // The Redis object-cache drop-in (symlinked into wp-content by the php image) is active.
  const dbsize = await run('podman', ['exec', `${pod.name}-redis`, 'redis-cli', 'dbsize']);
  assert.ok(Number(dbsize.stdout.trim()) > 0, `redis holds object-cache keys (dbsize ${dbsize.stdout.trim()})`);
  const keys = await run('podman', ['exec', `${pod.name}-redis`, 'redis-cli', '--scan', '--pattern', '*options:alloptions']);
  assert.match(keys.stdout, /options:alloptions/);

  // Theme assets come from the wp-content volume through nginx (Debian symlinks).
  const css = await http(`${base}/wp-content/themes/twentytwentythree/style.css`);
  assert.equal(css.status, 200);

  // Isolation: every container process runs as host uids inside this environment's slot.
  const containers = await podContainers(pod.name);
  assert.deepEqual(containers.map((c) => c.name.replace(`${pod.name}-`, '')).sort(), ['db', 'php', 'redis', 'web']);
  for (const c of containers) {
    assert.equal(c.state, 'running', c.name);
    const status = await readFile(`/proc/${c.pid}/status`, 'utf8');
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
    assert.ok(uid >= pod.hostIds.start && uid < pod.hostIds.start + pod.hostIds.count, `${c.name} runs as host uid ${uid}`);
  }
  // Limits are applied (rootful, cgroup v1).
  const mem = Object.fromEntries(containers.map((c) => [c.name.replace(`${pod.name}-`, ''), c.memoryLimit]));
  assert.equal(mem.php, 768 * 1024 * 1024);
  assert.equal(mem.db, 512 * 1024 * 1024);
  const cg = (await http(`${base}/`)).status === 200 ? await podPidsMax(pod.name) : '';
  assert.equal(cg, '1024', 'pod-wide pids.max written by the driver');

  // Replay (desired state re-applied): data survives, site answers again.
  const tReplay = Date.now();
  await applyEnvironment(spec, { secrets, podDir });
  const again = await waitFor(`${base}/`, (r) => r.status === 200, 60_000);
  assert.match(again.res.body, /<title>Triplane IT<\/title>/);
  log(`replay: first 200 after ${Date.now() - tReplay} ms`);
});
