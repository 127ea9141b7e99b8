/**
 * Integration (root + Podman + the platform images): the file manager and the database browser
 * against a REAL WordPress pod — its wp-content volume (owned by the environment's uid slot,
 * Debian's plugin symlinks into the image) and its MariaDB (read-only session, masking).
 *
 *   node scripts/test.ts packages/agent/src/files/files-pod.test.ts
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isTriplaneError } from '@triplane/kernel';
import { applyEnvironment, buildImages, generateEnvironmentSecrets, removeEnvironment, run } from '@triplane/runtime';
import { http, waitFor } from '@triplane/runtime/integration/http';
import { podmanTestsOneAtATime } from '@triplane/runtime/integration/one-at-a-time';
import { installWordPress } from '@triplane/runtime/integration/wp-install';
import { essentialsSpec } from '@triplane/runtime/pod/fixtures';
import { freePort } from '@triplane/testkit';
import { MASK, podmanSqlRunner, READ_ONLY_PRELUDE, type RowsPage } from './db.ts';
import { runFileJob } from './job-main.ts';
import { type FileListing, wwwDataOf } from './ops.ts';

podmanTestsOneAtATime();

const log = (m: string) => process.stderr.write(`# ${m}\n`);

const code = (c: string) => (e: unknown) => isTriplaneError(e) && e.code === c;

test('file manager + db browser on a real WordPress pod', { timeout: 10 * 60_000 }, async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root: rootful Podman with a user namespace per environment');
  if ((await run('podman', ['--version'], { allowFailure: true }).catch(() => ({ code: 1 }))).code !== 0)
    return t.skip('podman is not installed');
  const images = await buildImages({});
  const uidSlot = 15010;
  const port = await freePort();
  const podDir = await mkdtemp(join(tmpdir(), 'triplane-fm-it-'));
  const spec = essentialsSpec({
    siteId: 'itfm',
    envName: 'test',
    uidSlot,
    images: {
      web: images.tags.web as string,
      php: images.tags.php as string,
      redis: images.tags.redis as string,
      mariadb: images.tags.mariadb as string,
    },
    web: { hostPort: port },
    volumes: { wpContent: 'itfm-test-wp-content', dbData: 'itfm-test-db-data' },
    secrets: {
      dbPassword: { secret: 'itfm-test-secrets', key: 'db-password' },
      wpSalt: { secret: 'itfm-test-secrets', key: 'wp-salt' },
    },
  });
  await removeEnvironment(spec, { purge: true, podDir });
  t.after(async () => {
    await removeEnvironment(spec, { purge: true, podDir });
    await rm(podDir, { recursive: true, force: true });
  });
  const t0 = Date.now();
  const pod = await applyEnvironment(spec, { secrets: generateEnvironmentSecrets(), podDir });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/wp-admin/install.php`, (r) => r.status === 200, 180_000);
  const install = await installWordPress(base, {
    title: 'FM IT',
    user: 'admin',
    password: 'Tp-fm-it-pass-1',
    email: 'a@example.com',
  });
  assert.equal(install.status, 200);
  log(`pod up and WordPress installed in ${Date.now() - t0} ms`);

  const target = {
    volume: spec.volumes.wpContent,
    dbContainer: `${pod.name}-db`,
    dbName: 'wordpress',
    owner: wwwDataOf(uidSlot),
  };
  const job = (kind: string, p: Record<string, unknown> = {}) => runFileJob(kind, p, target);

  // Files: the real volume, with Debian's symlinks into the image.
  const root = (await job('files.list', { path: '' })) as FileListing;
  const names = Object.fromEntries(root.entries.map((e) => [e.name, e]));
  assert.equal(names.plugins?.type, 'dir');
  assert.equal(names['object-cache.php']?.type, 'symlink');
  await assert.rejects(job('files.read', { path: 'object-cache.php' }), code('TRIPLANE_ERR_UNPROCESSABLE'));
  const plugins = (await job('files.list', { path: 'plugins' })) as FileListing;
  assert.ok(
    plugins.entries.some((e) => e.type === 'symlink'),
    'plugin links are listed',
  );
  await assert.rejects(job('files.list', { path: 'plugins/akismet' }), code('TRIPLANE_ERR_UNPROCESSABLE'));
  await assert.rejects(job('files.read', { path: '../../../../etc/passwd' }), code('TRIPLANE_ERR_VALIDATION'));

  await job('files.mkdir', { path: 'uploads/tp-fm' });
  await job('files.write', {
    path: 'uploads/tp-fm/hello.txt',
    base64: Buffer.from('hello from the file manager\n').toString('base64'),
  });
  const seen = await run('podman', [
    'exec',
    `${pod.name}-php`,
    'stat',
    '-c',
    '%U:%G %a',
    '/var/lib/wordpress/wp-content/uploads/tp-fm/hello.txt',
  ]);
  assert.equal(seen.stdout.trim(), 'www-data:www-data 644', 'the site sees its own file');
  // PHP (www-data) can still change what the file manager wrote
  const php = await run('podman', [
    'exec',
    '-u',
    'www-data',
    `${pod.name}-php`,
    'sh',
    '-c',
    'echo more >> /var/lib/wordpress/wp-content/uploads/tp-fm/hello.txt && mkdir /var/lib/wordpress/wp-content/uploads/tp-fm/sub',
  ]);
  assert.equal(php.code, 0, php.stderr);
  const back = (await job('files.read', { path: 'uploads/tp-fm/hello.txt' })) as { base64: string };
  assert.equal(Buffer.from(back.base64, 'base64').toString(), 'hello from the file manager\nmore\n');
  const served = await http(`${base}/wp-content/uploads/tp-fm/hello.txt`);
  assert.equal(served.status, 200);
  assert.deepEqual(await job('files.delete', { path: 'uploads/tp-fm', recursive: true }), { removed: 3 });
  const mp = (await run('podman', ['volume', 'inspect', '--format', '{{.Mountpoint}}', spec.volumes.wpContent])).stdout.trim();
  await assert.rejects(stat(join(mp, 'uploads/tp-fm')), { code: 'ENOENT' });

  // Database: tables, a page of wp_users with the hash masked, bounds, read-only session.
  const { tables } = (await job('db.tables')) as { tables: { name: string; bytes: number }[] };
  assert.ok(tables.some((x) => x.name === 'wp_users') && tables.some((x) => x.name === 'wp_options'));
  const users = (await job('db.rows', { table: 'wp_users', offset: 0, limit: 10 })) as RowsPage;
  const col = (n: string) => users.columns.findIndex((c) => c.name === n);
  assert.equal(users.rows.length, 1);
  assert.equal(users.rows[0]?.[col('user_login')], 'admin');
  assert.equal(users.rows[0]?.[col('user_pass')], MASK);
  assert.ok(users.masked.includes('user_pass'));
  const options = (await job('db.rows', { table: 'wp_options', offset: 2, limit: 5 })) as RowsPage;
  assert.equal(options.rows.length, 5);
  await assert.rejects(job('db.rows', { table: 'wp_users; DROP TABLE wp_users', limit: 5 }), code('TRIPLANE_ERR_NOT_FOUND'));
  await assert.rejects(job('db.rows', { table: 'wp_users', limit: 201 }), code('TRIPLANE_ERR_VALIDATION'));
  const sql = podmanSqlRunner(target.dbContainer, 'wordpress');
  await assert.rejects(sql(`${READ_ONLY_PRELUDE}DELETE FROM wp_options;`), /read only|READ ONLY|1792/i);
  assert.equal(((await job('db.rows', { table: 'wp_options', limit: 1 })) as RowsPage).rows.length, 1, 'nothing was deleted');
  log(`done in ${Date.now() - t0} ms`);
});
