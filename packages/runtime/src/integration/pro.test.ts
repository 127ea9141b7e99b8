/**
 * Integration (root only): a Pro environment — no database container in the pod; WordPress
 * talks to an external MariaDB. The "external" server is started by the test as its own
 * container on the pods' bridge network (another uid slot), like a database host would be.
 *
 *   node --test packages/runtime/src/integration/pro.test.ts
 */

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { run } from '../exec.ts';
import { prepareHost } from '../host/prepare.ts';
import { buildImages } from '../images/build.ts';
import { proSpec } from '../pod/fixtures.ts';
import { generateEnvironmentSecrets } from '../pod/secret.ts';
import { userNamespaceArg } from '../pod/translate.ts';
import type { EnvironmentSpec } from '../pod/types.ts';
import { applyEnvironment, podContainers, removeEnvironment } from '../podman/driver.ts';
import { http, waitFor } from './http.ts';
import { podmanTestsOneAtATime } from './one-at-a-time.ts';
import { installWordPress } from './wp-install.ts';

podmanTestsOneAtATime();

const isRoot = process.getuid?.() === 0;
/** The network `podman kube play` attaches pods to (rootful, CNI). */
const KUBE_NETWORK = 'podman-default-kube-network';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(a && typeof a === 'object' ? a.port : 0));
    });
  });
}

test('Pro environment: pod without db container, WordPress on an external MariaDB', { timeout: 30 * 60_000 }, async (t) => {
  if (!isRoot) {
    t.skip('needs root: rootful podman with --userns per environment (run as root or via `make test`)');
    return;
  }
  await prepareHost();
  const { tags } = await buildImages();
  const secrets = generateEnvironmentSecrets();
  const port = await freePort();
  const podDir = await mkdtemp(join(tmpdir(), 'triplane-pro-'));
  const base0 = proSpec();
  const db = { name: 'itpro-extdb', volume: 'itpro-extdb-data' };

  const cleanup = async () => {
    await run('podman', ['rm', '-f', '-t', '0', db.name], { allowFailure: true });
    await run('podman', ['volume', 'rm', '-f', db.volume], { allowFailure: true });
  };
  const spec0 = { ...base0, siteId: 'itpro', envName: 'test', uidSlot: 15250 };
  await cleanup();
  let spec: EnvironmentSpec | undefined;
  t.after(async () => {
    if (spec) await removeEnvironment(spec, { purge: true, podDir });
    await cleanup();
    await rm(podDir, { recursive: true, force: true });
  });

  // The external database server.
  const net = await run('podman', ['network', 'exists', KUBE_NETWORK], { allowFailure: true });
  if (net.code !== 0) await run('podman', ['network', 'create', KUBE_NETWORK]);
  await run('podman', [
    'run',
    '-d',
    '--name',
    db.name,
    '--network',
    KUBE_NETWORK,
    userNamespaceArg(15251),
    '-v',
    `${db.volume}:/var/lib/mysql`,
    '-e',
    `MARIADB_DATABASE=${spec0.database.name}`,
    '-e',
    `MARIADB_USER=${spec0.database.user}`,
    '-e',
    `MARIADB_PASSWORD=${secrets['db-password']}`,
    tags.mariadb as string,
    '--bind-address=0.0.0.0',
  ]);
  const ip = (
    await run('podman', ['inspect', db.name, '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}'])
  ).stdout.trim();
  assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);

  spec = {
    ...spec0,
    plan: { kind: 'pro' as const, db: { host: ip, port: 3306 } },
    images: { web: tags.web as string, php: tags.php as string, redis: tags.redis as string },
    web: { hostPort: port },
    volumes: { wpContent: 'itpro-test-wp-content' },
    secrets: {
      dbPassword: { secret: 'itpro-test-secrets', key: 'db-password' },
      wpSalt: { secret: 'itpro-test-secrets', key: 'wp-salt' },
    },
  };
  await removeEnvironment(spec, { purge: true, podDir });
  const pod = await applyEnvironment(spec, { secrets, podDir });
  const names = (await podContainers(pod.name)).map((c) => c.name.replace(`${pod.name}-`, '')).sort();
  assert.deepEqual(names, ['php', 'redis', 'web'], 'no db container on Pro');

  const base = `http://127.0.0.1:${port}`;
  // The external server may still be initialising its datadir: WordPress answers 500 until then.
  await waitFor(`${base}/wp-admin/install.php`, (r) => r.status === 200, 120_000);
  const password = `Pro-${secrets['wp-salt']?.slice(0, 16)}`;
  const install = await installWordPress(base, { title: 'Triplane Pro', user: 'admin', password, email: 'pro@example.com' });
  assert.equal(install.status, 200);
  assert.match(install.body, /Success!/);
  const home = await http(`${base}/`);
  assert.equal(home.status, 200);
  assert.match(home.body, /<title>Triplane Pro<\/title>/);
  assert.match(home.body, /<meta name="generator" content="WordPress 6\.1\.\d+"/);
  // The tables live on the external server.
  const tables = await run('podman', [
    'exec',
    '-e',
    `PW=${secrets['db-password']}`,
    db.name,
    'sh',
    '-c',
    `mariadb -u${spec.database.user} -p"$PW" -h127.0.0.1 ${spec.database.name} -N -e "show tables like 'wp_options'"`,
  ]);
  assert.equal(tables.stdout.trim(), 'wp_options');
});
