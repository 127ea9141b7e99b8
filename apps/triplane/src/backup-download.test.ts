import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ControlProcess, startControl, tempDir, triplane } from './testing/cli.ts';

/**
 * `triplane backup download` against a real `triplane control`; the test plays the app server's
 * agent over HTTP (claims the backup.export job, uploads the archive, completes it), so what is
 * checked is the CLI and the API: job progress, the download, the sha256 check, the file.
 */
let cp: ControlProcess;
const dir = tempDir('triplane-bkdl-');
let agent: { id: string; credential: string };
let backupId: string;

before(async () => {
  cp = await startControl({ workers: 1 }); // the provisioning job places the environment
});
after(async () => {
  dir.remove();
  assert.equal(await cp?.stop(), 0, cp?.output());
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const run = (args: string[]) => triplane(args, { env: cp.env(), timeoutMs: 120_000 });
async function api(path: string, body?: unknown, token = cp.token): Promise<{ status: number; body: any }> {
  const res = await fetch(`${cp.url}/api/v1${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() };
}
const asAgent = (path: string, body: unknown) => api(`/agents/${agent.id}/jobs${path}`, body, agent.credential);

/** Claim the next backup.export job (long-poll), upload `archive`, complete it reporting `reported`. */
async function serveExport(archive: Buffer, reported = { bytes: archive.length, sha256: sha256(archive) }): Promise<string> {
  let job: { id: string } | null = null;
  for (let i = 0; i < 20 && !job; i++)
    job = (await asAgent('/claim', { owner: 'run-t', kinds: ['backup.export'], wait: 5 })).body.job;
  assert.ok(job, 'the CLI queued a backup.export job');
  const put = await fetch(`${cp.url}/api/v1/agents/${agent.id}/jobs/${job.id}/artifact?owner=run-t`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${agent.credential}`, 'content-type': 'application/gzip' },
    body: archive,
  });
  assert.equal(put.status, 200, await put.clone().text());
  await asAgent(`/${job.id}/progress`, { owner: 'run-t', percent: 100, message: 'archive uploaded' });
  const done = await asAgent(`/${job.id}/complete`, { owner: 'run-t', result: { artifact: reported } });
  assert.equal(done.body.outcome, 'succeeded');
  return job.id;
}

test('triplane backup download: follows the export job, downloads, verifies the sha256', { timeout: 300_000 }, async () => {
  const srv = await run(['server', 'create', 'app1', '--role', 'app', '--json']);
  assert.equal(srv.code, 0, srv.stderr);
  const joined = await api('/agents/join', { joinToken: JSON.parse(srv.stdout).joinToken, address: '127.0.0.1' });
  assert.equal(joined.status, 200, JSON.stringify(joined.body));
  agent = { id: joined.body.serverId, credential: joined.body.credential };
  const created = await run([
    'site',
    'create',
    '--name',
    'dlshop',
    '--domain',
    'dlshop.example.test',
    '--timeout',
    '90',
    '--json',
  ]);
  assert.equal(created.code, 0, created.stderr);
  const envId = JSON.parse(created.stdout).environment.id as string;

  // A backup, recorded as the agent records one.
  const b = await api(`/environments/${envId}/backups`, {});
  assert.equal(b.status, 202, JSON.stringify(b.body));
  backupId = b.body.job.params.backupId;
  assert.equal((await asAgent('/claim', { owner: 'run-t', kinds: ['backup.create'] })).body.job.id, b.body.job.id);
  const rec = await asAgent(`/${b.body.job.id}/backups`, {
    owner: 'run-t',
    backupId,
    environmentId: envId,
    kind: 'manual',
    dbSnapshotId: 'a'.repeat(64),
    filesSnapshotId: 'b'.repeat(64),
    snapshotTime: '2026-11-25T03:04:05.000Z',
    dbBytes: 10,
    filesBytes: 20,
    addedBytes: 5,
  });
  assert.equal(rec.status, 200, JSON.stringify(rec.body));
  await asAgent(`/${b.body.job.id}/complete`, { owner: 'run-t', result: {} });

  // The archive the agent would make.
  const src = join(dir.path, 'src');
  mkdirSync(join(src, 'wp-content', 'uploads', '2026', '11'), { recursive: true });
  writeFileSync(join(src, 'db.sql'), '-- MariaDB dump\n-- Dump completed\n');
  writeFileSync(join(src, 'wp-content', 'uploads', '2026', '11', 'photo.bin'), randomBytes(200_000));
  const archive = execFileSync('tar', ['-czf', '-', '-C', src, 'db.sql', 'wp-content']);

  const out = join(dir.path, 'b.tar.gz');
  const cli = run(['backup', 'download', backupId, '-o', out]);
  const jobId = await serveExport(archive);
  const r = await cli;
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, new RegExp(`backup ${backupId} of dlshop/production: .*sha256 ${sha256(archive)} → ${out}`));
  assert.equal(sha256(readFileSync(out)), sha256(archive));
  assert.equal(statSync(out).mode & 0o777, 0o600, 'a backup holds the whole database');
  const names = execFileSync('tar', ['-tzf', out], { encoding: 'utf8' });
  assert.match(names, /^db\.sql$/m);
  assert.match(names, /^wp-content\/uploads\/2026\/11\/photo\.bin$/m);
  // `triplane control --data-dir` keeps the archive beside the store.
  assert.ok(existsSync(join(cp.dataDir, 'artifacts', `${jobId}.tar.gz`)));

  // --json: the answer names the file and its hash; the job carries the default file name.
  const j = triplane(['backup', 'download', backupId, '--json', '-o', join(dir.path, 'c.tar.gz')], {
    env: cp.env(),
    timeoutMs: 120_000,
  });
  await serveExport(archive);
  const jr = await j;
  assert.equal(jr.code, 0, jr.stderr);
  const answer = JSON.parse(jr.stdout);
  assert.equal(answer.sha256, sha256(archive));
  assert.equal(answer.job.params.filename, 'dlshop-production-20261125-030405.tar.gz');
});

test('a download that does not match the job’s sha256 is refused and leaves no file', { timeout: 120_000 }, async () => {
  const archive = execFileSync('tar', ['-czf', '-', '-C', join(dir.path, 'src'), 'db.sql']);
  const out = join(dir.path, 'bad.tar.gz');
  const cli = run(['backup', 'download', backupId, '-o', out]);
  await serveExport(archive, { bytes: archive.length, sha256: 'f'.repeat(64) });
  const r = await cli;
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /TRIPLANE_ERR_DOWNLOAD_CORRUPT/);
  assert.ok(!existsSync(out));
  assert.deepEqual(
    readdirSync(dir.path).filter((n) => n.endsWith('.part')),
    [],
  );
  const missing = await run(['backup', 'download', 'bak_zzzzzzzzzzzzzzzz', '-o', out]);
  assert.equal(missing.code, 4, missing.stderr);
});
