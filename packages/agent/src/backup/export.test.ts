import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createSite, joinServer, runHandler } from '@triplane/control/desired/test-support';
import { siteProvision } from '@triplane/control/jobs/handlers/site-provision';
import { createHarness, type Harness } from '@triplane/control/testing/harness';
import { silentLogger, TriplaneError } from '@triplane/kernel';
import { AgentJobRunner, type JobLink } from '../jobs/runner.ts';
import { type ExecContext, sourceFromBackup } from './executor.ts';
import { exportBackup, httpArtifactUpload } from './export.ts';
import { Restic } from './restic.ts';

const isRoot = process.getuid?.() === 0;
const LANE = `triplane-low-test-x${process.pid}`;
const root = mkdtempSync(join(tmpdir(), 'triplane-export-'));
const passwordFile = join(root, 'password');
writeFileSync(passwordFile, 'correct horse battery staple\n', { mode: 0o600 });
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A repository initialised under a tight CPU quota: restic then picks its cheapest KDF (see restic.test.ts). */
async function makeRepo(dir: string, password = passwordFile): Promise<Restic> {
  const quota = `/sys/fs/cgroup/cpu/triplane-test-kdf-x${process.pid}`;
  const useQuota = isRoot && existsSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us');
  if (useQuota) {
    mkdirSync(quota, { recursive: true });
    writeFileSync(join(quota, 'cpu.cfs_period_us'), '10000');
    writeFileSync(join(quota, 'cpu.cfs_quota_us'), '1000');
  }
  try {
    const script = useQuota ? `echo $$ > ${quota}/cgroup.procs && exec "$@"` : 'exec "$@"';
    const p = spawn('sh', ['-c', script, 'sh', 'restic', `--repo=${dir}`, `--password-file=${password}`, 'init'], {
      stdio: 'ignore',
    });
    assert.equal(await new Promise((resolve) => p.once('exit', resolve)), 0, 'restic init');
  } finally {
    if (useQuota) rmdirSync(quota);
  }
  return new Restic({
    repository: dir,
    passwordFile: password,
    cacheDir: join(root, 'cache'),
    // normal CPU weight in tests (the lane itself is lowprio.test.ts's subject)
    lane: { nice: 0, cgroup: { name: LANE, cpuShares: 1024, cpuIdle: false } },
    killGraceMs: 2000,
  });
}

interface Received {
  url: string;
  body: Buffer;
  auth: string | undefined;
}

/** A stand-in for the control plane's artifact route on 127.0.0.1: stores the body, answers its size and hash. */
function receiver(
  answer?: (r: Received) => { status: number; body: unknown },
): Promise<{ server: Server; url: string; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    try {
      for await (const c of req) chunks.push(c as Buffer);
    } catch {
      return;
    }
    const r = { url: req.url ?? '', body: Buffer.concat(chunks), auth: req.headers.authorization };
    got.push(r);
    const a = answer?.(r) ?? { status: 200, body: { ok: true, bytes: r.body.length, sha256: sha256(r.body) } };
    res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      resolve({ server, url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, got });
    }),
  );
}

describe('backup.export', () => {
  let restic: Restic;
  const envId = 'env_aaaaaaaaaaaaaaaa';
  const backupId = 'bak_bbbbbbbbbbbbbbbb';
  let dbSnap: string;
  let filesSnap: string;
  const dump = Buffer.from(
    `-- MariaDB dump\nCREATE TABLE wp_posts (id int);\n${'INSERT INTO wp_posts VALUES (1);\n'.repeat(2000)}-- Dump completed\n`,
  );
  const photo = randomBytes(300_000);
  const longDir = 'd'.repeat(120);
  // the app server's real layout: a Podman volume path and the executor's spec dir
  const data = join(root, 'storage', 'volumes', 'shop-production-wp-content', '_data');
  const specDir = join(root, 'state', 'backup', 'spec', envId);
  const servers: Server[] = [];

  before(async () => {
    restic = await makeRepo(join(root, 'repo'));
    mkdirSync(join(data, 'uploads', '2026', '11'), { recursive: true });
    writeFileSync(join(data, 'uploads', '2026', '11', 'photo.bin'), photo);
    mkdirSync(join(data, 'themes', longDir), { recursive: true });
    writeFileSync(join(data, 'themes', longDir, 'style.css'), 'body{}');
    writeFileSync(join(data, 'uploads', 'café.txt'), 'ünïcode');
    symlinkSync('uploads/2026', join(data, 'latest'));
    mkdirSync(specDir, { recursive: true });
    writeFileSync(join(specDir, 'environment.json'), '{"id":"env_aaaaaaaaaaaaaaaa"}\n');
    const tags = [`backup=${backupId}`, `env=${envId}`, 'site=site_cccccccccccccccc', 'kind=manual'];
    dbSnap = (await restic.backupStdin(Readable.from([dump]), { filename: 'db.sql', tags, host: 'triplane' })).snapshotId;
    filesSnap = (await restic.backupPaths([data, specDir], { tags, host: 'triplane' })).snapshotId;
  });

  after(() => {
    for (const s of servers) s.close();
    rmSync(root, { recursive: true, force: true });
    for (const c of ['cpu', 'blkio']) {
      try {
        rmdirSync(`/sys/fs/cgroup/${c}/${LANE}`);
      } catch {
        // not created or not root
      }
    }
    try {
      const mine = /^\d+:memory:(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '/';
      rmdirSync(join('/sys/fs/cgroup/memory', mine, LANE));
    } catch {
      // not created
    }
  });

  const ctxOf = (events: unknown[] = [], signal = new AbortController().signal): ExecContext => ({
    restic,
    signal,
    stateDir: join(root, 'state'),
    emit: (e) => events.push(e),
  });
  const target = (url: string) => ({ apiUrl: url, serverId: 'srv_dddddddddddddddd', credential: 'tpa_secret', owner: 'run-1' });

  it('streams db.sql, wp-content/… (relative paths) and environment.json as a tar.gz over HTTP', async () => {
    const rx = await receiver();
    servers.push(rx.server);
    const events: { type: string; percent?: number }[] = [];
    const jobId = 'job_eeeeeeeeeeeeeeee';
    const r = await exportBackup(
      ctxOf(events),
      { backupId, environmentId: envId, dbSnapshotId: dbSnap, filesSnapshotId: filesSnap, totalBytes: 400_000 },
      httpArtifactUpload(target(rx.url), jobId, new AbortController().signal),
    );
    assert.equal(rx.got.length, 1);
    const got = rx.got[0] as Received;
    assert.equal(got.url, `/api/v1/agents/srv_dddddddddddddddd/jobs/${jobId}/artifact?owner=run-1`);
    assert.equal(got.auth, 'Bearer tpa_secret');
    assert.deepEqual(r.artifact, { bytes: got.body.length, sha256: sha256(got.body) });
    assert.equal(got.body[0], 0x1f, 'gzip');
    assert.equal(events.at(-1)?.percent, 100);

    const out = join(root, 'out');
    mkdirSync(out);
    writeFileSync(join(out, 'a.tar.gz'), got.body);
    const names = execFileSync('tar', ['-tzf', join(out, 'a.tar.gz')], { encoding: 'utf8' })
      .trim()
      .split('\n');
    assert.equal(names[0], 'db.sql', 'the dump comes first');
    for (const n of [
      'environment.json',
      'wp-content/',
      'wp-content/uploads/2026/11/photo.bin',
      `wp-content/themes/${longDir}/style.css`,
      'wp-content/uploads/café.txt',
      'wp-content/latest',
    ])
      assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
    assert.ok(!names.some((n) => n.includes('volumes') || n.includes('state/')), 'no absolute server paths');
    const x = join(out, 'x');
    mkdirSync(x);
    execFileSync('tar', ['-xzf', join(out, 'a.tar.gz'), '-C', x]);
    assert.equal(sha256(readFileSync(join(x, 'db.sql'))), sha256(dump));
    assert.equal(sha256(readFileSync(join(x, 'wp-content', 'uploads', '2026', '11', 'photo.bin'))), sha256(photo));
    assert.equal(readFileSync(join(x, 'wp-content', 'themes', longDir, 'style.css'), 'utf8'), 'body{}');
    assert.equal(readFileSync(join(x, 'wp-content', 'uploads', 'café.txt'), 'utf8'), 'ünïcode');
    assert.ok(lstatSync(join(x, 'wp-content', 'latest')).isSymbolicLink());
    assert.equal(readlinkSync(join(x, 'wp-content', 'latest')), 'uploads/2026');
    assert.equal(readFileSync(join(x, 'environment.json'), 'utf8'), '{"id":"env_aaaaaaaaaaaaaaaa"}\n');
  });

  it('a backup without a database exports the files only', async () => {
    const rx = await receiver();
    servers.push(rx.server);
    await exportBackup(
      ctxOf(),
      { backupId, environmentId: envId, dbSnapshotId: null, filesSnapshotId: filesSnap },
      httpArtifactUpload(target(rx.url), 'job_ffffffffffffffff', new AbortController().signal),
    );
    const f = join(root, 'files-only.tar.gz');
    writeFileSync(f, (rx.got[0] as Received).body);
    const names = execFileSync('tar', ['-tzf', f], { encoding: 'utf8' });
    assert.doesNotMatch(names, /db\.sql/);
    assert.match(names, /^wp-content\/uploads\/2026\/11\/photo\.bin$/m);
  });

  it('refuses snapshots of another environment or missing ones, before uploading anything', async () => {
    const rx = await receiver();
    servers.push(rx.server);
    const up = httpArtifactUpload(target(rx.url), 'job_gggggggggggggggg', new AbortController().signal);
    await assert.rejects(
      exportBackup(
        ctxOf(),
        { backupId, environmentId: 'env_zzzzzzzzzzzzzzzz', dbSnapshotId: dbSnap, filesSnapshotId: filesSnap },
        up,
      ),
      (e: unknown) => e instanceof TriplaneError && e.code === 'TRIPLANE_ERR_BACKUP_WRONG_SITE',
    );
    await assert.rejects(
      exportBackup(ctxOf(), { backupId, environmentId: envId, dbSnapshotId: dbSnap, filesSnapshotId: '0123456789abcdef' }, up),
      (e: unknown) => e instanceof TriplaneError && e.code === 'TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND',
    );
    assert.equal(rx.got.length, 0);
  });

  it('a refused upload fails the export with the control plane’s code; a corrupted transfer is detected', async () => {
    const lost = await receiver(() => ({
      status: 409,
      body: { error: { code: 'TRIPLANE_ERR_CONFLICT', message: 'lease lost' } },
    }));
    servers.push(lost.server);
    const p = { backupId, environmentId: envId, dbSnapshotId: dbSnap, filesSnapshotId: filesSnap };
    await assert.rejects(
      exportBackup(ctxOf(), p, httpArtifactUpload(target(lost.url), 'job_hhhhhhhhhhhhhhhh', new AbortController().signal)),
      (e: unknown) => e instanceof TriplaneError && e.code === 'TRIPLANE_ERR_CONFLICT' && /lease lost/.test(e.message),
    );
    const liar = await receiver((r) => ({ status: 200, body: { ok: true, bytes: r.body.length - 1, sha256: sha256('x') } }));
    servers.push(liar.server);
    await assert.rejects(
      exportBackup(ctxOf(), p, httpArtifactUpload(target(liar.url), 'job_iiiiiiiiiiiiiiii', new AbortController().signal)),
      (e: unknown) => e instanceof TriplaneError && e.code === 'TRIPLANE_ERR_BACKUP_FAILED' && /stored/.test(e.message),
    );
    // nobody listening: a retryable upload failure
    const dead = `http://127.0.0.1:${await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const a = s.address();
        s.close(() => resolve(typeof a === 'object' && a ? a.port : 1));
      });
    })}`;
    await assert.rejects(
      exportBackup(ctxOf(), p, httpArtifactUpload(target(dead), 'job_jjjjjjjjjjjjjjjj', new AbortController().signal)),
      (e: unknown) =>
        e instanceof TriplaneError &&
        e.code === 'TRIPLANE_ERR_BACKUP_UPLOAD_FAILED' &&
        (e.details as { retryable?: boolean }).retryable === true,
    );
  });

  it('restore-as-site: a source gone from the server is read from the environment.json its backup kept', async () => {
    const goneEnv = 'env_gggggggggggggggg';
    const spec = join(root, 'state', 'backup', 'spec', goneEnv);
    mkdirSync(spec, { recursive: true });
    const kept = {
      id: goneEnv,
      siteId: 'site_hhhhhhhhhhhhhhhh',
      siteName: 'old-shop',
      name: 'production',
      domains: ['old-shop.example.com'],
      externalDatabase: null,
      runtime: { unixUser: 'tp-old-shop-production', uidSlot: 7, webPort: 20007 },
    };
    writeFileSync(join(spec, 'environment.json'), `${JSON.stringify(kept)}\n`);
    const id = 'bak_iiiiiiiiiiiiiiii';
    const tags = [`backup=${id}`, `env=${goneEnv}`, `site=${kept.siteId}`, 'kind=pre-delete'];
    const files = (await restic.backupPaths([data, spec], { tags, host: 'triplane' })).snapshotId;
    const from = { backupId: id, dbSnapshotId: null, filesSnapshotId: files };
    const t = await sourceFromBackup(ctxOf(), goneEnv, from);
    assert.equal(t.gone, true);
    assert.deepEqual(
      [t.envId, t.siteId, t.pod, t.dbContainer],
      [goneEnv, kept.siteId, 'old-shop-production', 'old-shop-production-db'],
    );
    assert.equal(t.environment.runtime.uidSlot, 7, 'the uid slot its files are owned by');
    assert.deepEqual(t.environment.domains, ['old-shop.example.com']);
    // The snapshots must be of the environment the job names; a spec that is not one is refused.
    await assert.rejects(
      sourceFromBackup(ctxOf(), envId, from),
      (e: TriplaneError) => e.code === 'TRIPLANE_ERR_BACKUP_WRONG_SITE',
    );
    writeFileSync(join(spec, 'environment.json'), `{"id":"${goneEnv}"}\n`);
    const id2 = 'bak_jjjjjjjjjjjjjjjj';
    const files2 = (
      await restic.backupPaths([data, spec], { tags: [`backup=${id2}`, `env=${goneEnv}`, 'kind=pre-delete'], host: 'triplane' })
    ).snapshotId;
    await assert.rejects(
      sourceFromBackup(ctxOf(), goneEnv, { backupId: id2, dbSnapshotId: null, filesSnapshotId: files2 }),
      (e: TriplaneError) => e.code === 'TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND' && /environment\.json/.test(e.message),
    );
  });
});

/**
 * The whole path with real parts: the control plane (Fastify on a loopback port) enqueues the
 * export, the agent's job runner claims it and starts the real job child (job-main.ts), which
 * reads the server's restic repository and streams the archive back; then the archive is
 * downloaded as a user would.
 */
describe('backup download: control plane ⇄ runner ⇄ job-main ⇄ restic', () => {
  let h: Harness;
  let apiUrl: string;
  let runner: AgentJobRunner | undefined;
  const state = join(root, 'agent-state');
  const artifacts = join(root, 'artifacts');

  before(async () => {
    h = await createHarness({ dialect: 'sqlite', artifactsDir: artifacts });
    apiUrl = await h.app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await runner?.stop();
    await h.close();
  });

  it('POST /backups/{id}/download → backup.export on the agent → GET /jobs/{id}/artifact is the tar.gz', async () => {
    const srv = await joinServer(h, 'export-app', 'app', '127.0.0.1');
    const site = await createSite(h, h.owner.token, { name: 'export-shop' });
    await runHandler(h, siteProvision, site.jobId);
    const envId = site.environmentId;
    // The server's repository where job-main.ts looks for it (<state>/backup/repo, password beside it).
    mkdirSync(join(state, 'backup'), { recursive: true, mode: 0o700 });
    writeFileSync(join(state, 'backup', 'password'), 'agent password\n', { mode: 0o600 });
    const restic = await makeRepo(join(state, 'backup', 'repo'), join(state, 'backup', 'password'));
    const vol = join(root, 'srv', 'volumes', 'export-shop-production-wp-content', '_data');
    mkdirSync(join(vol, 'uploads', '2026', '11'), { recursive: true });
    const photo = randomBytes(50_000);
    writeFileSync(join(vol, 'uploads', '2026', '11', 'photo.bin'), photo);
    const spec = join(state, 'backup', 'spec', envId);
    mkdirSync(spec, { recursive: true });
    writeFileSync(join(spec, 'environment.json'), '{}\n');
    const sql = Buffer.from('-- MariaDB dump\nSELECT 1;\n-- Dump completed\n');

    // A backup as the agent records one.
    const b = await h.call(h.owner.token, 'POST', `/api/v1/environments/${envId}/backups`, {});
    const bjob = b.json().job;
    const tags = [`backup=${bjob.params.backupId}`, `env=${envId}`, `site=${site.siteId}`, 'kind=manual'];
    const dbSnap = await restic.backupStdin(Readable.from([sql]), { filename: 'db.sql', tags, host: 'triplane' });
    const filesSnap = await restic.backupPaths([vol, spec], { tags, host: 'triplane' });
    const call = (path: string, body: unknown) => h.call(srv.credential, 'POST', `/api/v1/agents/${srv.id}/jobs${path}`, body);
    assert.equal((await call('/claim', { owner: 'seed', kinds: ['backup.create'] })).json().job.id, bjob.id);
    const rec = await call(`/${bjob.id}/backups`, {
      owner: 'seed',
      backupId: bjob.params.backupId,
      environmentId: envId,
      kind: 'manual',
      dbSnapshotId: dbSnap.snapshotId,
      filesSnapshotId: filesSnap.snapshotId,
      snapshotTime: filesSnap.time,
      dbBytes: sql.length,
      filesBytes: photo.length,
      addedBytes: 0,
    });
    assert.equal(rec.statusCode, 200, rec.body);
    await call(`/${bjob.id}/complete`, { owner: 'seed', result: {} });

    const d = await h.call(h.owner.token, 'POST', `/api/v1/backups/${bjob.params.backupId}/download`, {});
    assert.equal(d.statusCode, 202, d.body);
    const jobId = d.json().job.id as string;

    const link: JobLink = {
      serverId: srv.id,
      async call<T>(method: string, path: string, body?: unknown, o: { timeoutMs?: number; signal?: AbortSignal } = {}) {
        const res = await fetch(`${apiUrl}/api/v1${path}`, {
          method,
          headers: { authorization: `Bearer ${srv.credential}`, 'content-type': 'application/json' },
          body: body === undefined ? null : JSON.stringify(body),
          signal: AbortSignal.any([AbortSignal.timeout(o.timeoutMs ?? 15_000), ...(o.signal ? [o.signal] : [])]),
        });
        if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
        return (await res.json()) as T;
      },
      childAccess: () => ({ apiUrl, credential: srv.credential }),
    };
    const jobMain = fileURLToPath(new URL('./job-main.ts', import.meta.url));
    let sawControl = false;
    runner = new AgentJobRunner({
      link,
      lookup: () => undefined,
      stateDir: state,
      kinds: ['backup.export'],
      logger: silentLogger(),
      flushMs: 200,
      waitS: 1,
      spawnChild: (input) => {
        sawControl = input.control?.credential === srv.credential && input.control.owner.startsWith('run-');
        // the credential goes over stdin: not in the child's argv or environment
        return spawn(process.execPath, [jobMain], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env } });
      },
    });
    runner.start();
    const deadline = Date.now() + 240_000;
    let job: { state: string; result?: { artifact?: { bytes: number; sha256: string } }; error?: unknown };
    for (;;) {
      job = (await h.call(h.owner.token, 'GET', `/api/v1/jobs/${jobId}`)).json();
      if (!['queued', 'running'].includes(job.state) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(job.state, 'succeeded', JSON.stringify(job));
    assert.ok(sawControl, 'the runner handed the child its upload access');

    const res = await fetch(`${apiUrl}/api/v1/jobs/${jobId}/artifact`, { headers: { authorization: `Bearer ${h.owner.token}` } });
    assert.equal(res.status, 200);
    assert.match(
      res.headers.get('content-disposition') ?? '',
      /^attachment; filename="export-shop-production-\d{8}-\d{6}\.tar\.gz"$/,
    );
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(body.length, job.result?.artifact?.bytes);
    assert.equal(sha256(body), job.result?.artifact?.sha256);
    const f = join(root, 'downloaded.tar.gz');
    writeFileSync(f, body);
    const names = execFileSync('tar', ['-tzf', f], { encoding: 'utf8' }).trim().split('\n');
    assert.ok(names.includes('db.sql') && names.includes('environment.json'), names.join(', '));
    assert.ok(names.includes('wp-content/uploads/2026/11/photo.bin'), names.join(', '));
    const x = join(root, 'downloaded');
    mkdirSync(x);
    execFileSync('tar', ['-xzf', f, '-C', x]);
    assert.equal(sha256(readFileSync(join(x, 'wp-content', 'uploads', '2026', '11', 'photo.bin'))), sha256(photo));
    assert.equal(sha256(readFileSync(join(x, 'db.sql'))), sha256(sql));
  });
});
