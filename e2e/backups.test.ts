/**
 * End to end (root + Podman only): backups, restores, clone and staging of a real WordPress
 * site, as issue 6's "Done when" describes them. Real processes: `triplane control` and
 * `triplane agent` (which runs restic and mariadb-dump in its low-priority job processes);
 * every verb through the CLI.
 *
 *   node scripts/test.ts e2e/backups.test.ts
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { podmanTestsOneAtATime } from '@triplane/runtime/integration/one-at-a-time';
import { BIN, freePort, get, log, run, skipReason, startAgent, stopProcess, waitUntil } from './support.ts';

podmanTestsOneAtATime();

const SITE = 'bk1';
const DOMAIN = 'bk1.example.test';
const CLONE = 'bk1copy';
const CLONE_DOMAIN = 'copy.example.test';
const RESTORED = 'bk1back';
const RESTORED_DOMAIN = 'back.example.test';
const PODS = [`${SITE}-production`, `${SITE}-staging`, `${CLONE}-production`, `${RESTORED}-production`];
const UPLOADS = '/var/lib/wordpress/wp-content/uploads';

/** `cmd` with `input` on stdin. */
function pipeRun(
  cmd: string,
  args: string[],
  input: string | Buffer,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
    });
    c.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    c.on('close', (code) => resolve({ code, stdout, stderr }));
    c.stdin.end(input);
  });
}

async function sql(pod: string, statements: string): Promise<string> {
  const r = await pipeRun(
    'podman',
    ['exec', '-i', `${pod}-db`, 'mariadb', '--batch', '--skip-column-names', 'wordpress'],
    statements,
  );
  assert.equal(r.code, 0, `sql on ${pod}: ${r.stderr}`);
  return r.stdout.trim();
}

/**
 * A session holding MariaDB's global read lock (FLUSH TABLES WITH READ LOCK) until `release()`:
 * reads (a dump) go on, every write and DDL waits — a restore can't get past creating its work
 * database, so a test can stop it there for sure, however fast the restore is.
 */
async function holdReadLock(pod: string): Promise<{ release: () => Promise<void> }> {
  const c = spawn('podman', ['exec', '-i', `${pod}-db`, 'mariadb', '--batch', '--unbuffered', '--skip-column-names'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const closed = new Promise((r) => c.once('close', r));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      if (out.includes('tp-locked')) resolve();
    });
    c.once('close', (code) => reject(new Error(`the read-lock session ended (${code})`)));
    c.stdin.write("FLUSH TABLES WITH READ LOCK; SELECT 'tp-locked';\n");
  });
  return {
    release: async () => {
      c.stdin.end('UNLOCK TABLES;\n');
      await closed;
    },
  };
}

const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/'/g, "\\'");

/** A checksum of the content a restore must bring back: posts and our marker option. */
async function dbSum(pod: string): Promise<string> {
  return sql(
    pod,
    "SELECT MD5(CONCAT((SELECT IFNULL(GROUP_CONCAT(ID, ':', post_title, ':', MD5(post_content), ':', post_status ORDER BY ID SEPARATOR '|'), '') FROM wp_posts WHERE post_type = 'post'), '#', (SELECT IFNULL(MAX(option_value), '-') FROM wp_options WHERE option_name = 'tp_marker')));",
  );
}

/** A checksum of every file under uploads (names and bytes). */
async function filesSum(pod: string): Promise<string> {
  const r = await run('podman', [
    'exec',
    `${pod}-php`,
    'sh',
    '-c',
    `cd ${UPLOADS} 2>/dev/null && find . -type f | LC_ALL=C sort | xargs -r sha256sum`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  return createHash('sha256').update(r.stdout).digest('hex');
}

async function putFile(pod: string, rel: string, bytes: Buffer): Promise<void> {
  const r = await pipeRun(
    'podman',
    [
      'exec',
      '-i',
      '-u',
      'www-data',
      `${pod}-php`,
      'sh',
      '-c',
      `mkdir -p "$(dirname ${UPLOADS}/${rel})" && cat > ${UPLOADS}/${rel}`,
    ],
    bytes,
  );
  assert.equal(r.code, 0, r.stderr);
}

function serialize(v: unknown): string {
  if (typeof v === 'string') return `s:${Buffer.byteLength(v)}:"${v}";`;
  if (typeof v === 'number') return `i:${v};`;
  const entries = Object.entries(v as Record<string, unknown>);
  return `a:${entries.length}:{${entries.map(([k, x]) => serialize(k) + serialize(x)).join('')}}`;
}

describe('e2e: backups, restore, clone, staging', { timeout: 1_200_000 }, () => {
  let skip: string | undefined;
  let dir = '';
  let env: NodeJS.ProcessEnv = {};
  let control: ChildProcess | undefined;
  let agent: ChildProcess | undefined;
  let api = '';
  let token = '';
  let envId = '';
  let siteId = '';
  const created: string[] = [];
  const cli = (args: string[], timeoutMs = 300_000) => run(BIN, args, { env, timeoutMs });
  const apiGet = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${api}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
    assert.ok(r.ok, `${path}: ${r.status} ${await r.clone().text()}`);
    return (await r.json()) as T;
  };
  const apiPost = (path: string, body: unknown) =>
    fetch(`${api}/api/v1${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  /** Run a CLI verb that follows a job with --json; returns the final job. */
  const jobVerb = async (args: string[]) => {
    const r = await cli([...args, '--json']);
    let job:
      | { id: string; state: string; error: { code: string; message: string } | null; attempts: number; result: any; params: any }
      | undefined;
    try {
      const j = JSON.parse(r.stdout);
      job = j.syncJob ?? j;
    } catch {
      job = undefined;
    }
    assert.ok(job, `${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
    return { ...r, job };
  };

  before(async () => {
    skip = await skipReason();
    if (skip) return;
    const images = await run(BIN, ['images', 'build'], { timeoutMs: 30 * 60_000 });
    assert.equal(images.code, 0, images.stderr);
    for (const pod of PODS) await run('podman', ['pod', 'rm', '-f', pod]);
    dir = mkdtempSync(join(tmpdir(), 'triplane-e2e-bk-'));
    const home = join(dir, 'home');
    const base: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TRIPLANE_')) base[k] = v;
    env = { ...base, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), TRIPLANE_LOG_LEVEL: 'info' };
    const dataDir = join(dir, 'data');
    const init = await cli(['init', '--data-dir', dataDir]);
    token = /^token: (tpl_\S+)$/m.exec(init.stdout)?.[1] ?? '';
    assert.ok(token, init.stdout + init.stderr);
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    const out = openSync(join(dir, 'control.log'), 'a', 0o600);
    // No schedule: a scheduled backup falling inside this test would change what it counts.
    control = spawn(
      BIN,
      ['control', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--workers', '1', '--no-backup-schedule'],
      {
        env,
        stdio: ['ignore', out, out],
      },
    );
    closeSync(out);
    await waitUntil('control ready', 60_000, async () => ((await fetch(`${api}/readyz`)).ok ? true : undefined));
    env = { ...env, TRIPLANE_API: api, TRIPLANE_TOKEN: token };
    const srv = await cli(['server', 'create', 'app1', '--role', 'app', '--json']);
    assert.equal(srv.code, 0, srv.stderr);
    agent = startAgent({ api, dir, env, joinToken: (JSON.parse(srv.stdout) as { joinToken: string }).joinToken });
  });

  after(async () => {
    if (skip) return;
    // No pre-delete backups here: the last test corrupted the repository on purpose.
    for (const name of created.reverse())
      await cli(['site', 'delete', name, '--confirm', name, '--no-backup'], 120_000).catch(() => undefined);
    await stopProcess(agent);
    await stopProcess(control);
    for (const pod of PODS) {
      if ((await run('podman', ['pod', 'exists', pod])).code === 0) {
        await run('podman', ['pod', 'rm', '-f', '-t', '0', pod]);
        await run('podman', ['volume', 'rm', '-f', `${pod}-wp-content`, `${pod}-db-data`]);
      }
    }
    const secrets = await run('podman', ['secret', 'ls', '--format', '{{.Name}}']);
    for (const s of secrets.stdout.split('\n')) if (PODS.some((p) => s.startsWith(p))) await run('podman', ['secret', 'rm', s]);
    if (process.exitCode && existsSync(join(dir, 'agent.log')))
      log(`agent log:\n${readFileSync(join(dir, 'agent.log'), 'utf8').slice(-6000)}`);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const POD = `${SITE}-production`;

  test('snapshot, change, restore database-only, files-only and full: checksums match the snapshot', async (t) => {
    if (skip) return t.skip(skip);
    const c = await cli(['site', 'create', SITE, '--kind', 'wordpress', '--domain', DOMAIN, '--json']);
    assert.equal(c.code, 0, c.stdout + c.stderr);
    created.push(SITE);
    const cj = JSON.parse(c.stdout) as { site: { id: string }; environment: { id: string } };
    envId = cj.environment.id;
    siteId = cj.site.id;
    await waitUntil('installed', 240_000, async () => {
      const e = await apiGet<{ status: string; observed: { installed?: boolean }[] }>(`/environments/${envId}`);
      return e.status === 'running' && e.observed[0]?.installed ? true : undefined;
    });
    // A post (with the site URL in it), an upload, a marker option, a serialized option with URLs.
    await sql(
      POD,
      `INSERT INTO wp_posts (post_author, post_date, post_date_gmt, post_content, post_title, post_excerpt, post_status, post_name, to_ping, pinged, post_modified, post_modified_gmt, post_content_filtered, guid, post_type)
       VALUES (1, NOW(), UTC_TIMESTAMP(), '<img src="https://${DOMAIN}/wp-content/uploads/2026/11/photo.bin">', 'Before the backup', '', 'publish', 'before-the-backup', '', '', NOW(), UTC_TIMESTAMP(), '', 'https://${DOMAIN}/?p=999', 'post');
       INSERT INTO wp_options (option_name, option_value, autoload) VALUES ('tp_marker', 'one', 'no');
       INSERT INTO wp_options (option_name, option_value, autoload) VALUES ('tp_probe', '${esc(serialize({ url: `https://${DOMAIN}/wp-content/uploads/x.jpg`, nested: { home: `https://${DOMAIN}`, n: 3 } }))}', 'no');`,
    );
    await putFile(POD, '2026/11/photo.bin', randomBytes(300_000));
    const db1 = await dbSum(POD);
    const files1 = await filesSum(POD);

    const b = await jobVerb(['backup', 'create', SITE]);
    assert.equal(b.job.state, 'succeeded', JSON.stringify(b.job.error));
    const list = await apiGet<{ items: { id: string; kind: string; dbBytes: number; filesBytes: number }[] }>(
      `/environments/${envId}/backups`,
    );
    assert.equal(list.items.length, 1);
    const b1 = list.items[0] as { id: string; kind: string; dbBytes: number; filesBytes: number };
    assert.equal(b1.kind, 'manual');
    assert.ok(b1.dbBytes > 10_000 && b1.filesBytes >= 300_000, JSON.stringify(b1));
    const cliList = await cli(['backup', 'list', SITE]);
    assert.match(cliList.stdout, new RegExp(b1.id));

    const change = async (n: number) => {
      await sql(
        POD,
        `UPDATE wp_posts SET post_title = 'Changed ${n}' WHERE post_name = 'before-the-backup'; UPDATE wp_options SET option_value = 'changed-${n}' WHERE option_name = 'tp_marker';`,
      );
      await putFile(POD, '2026/11/photo.bin', randomBytes(1000));
      await putFile(POD, `2026/11/new-${n}.bin`, randomBytes(5000));
    };
    await change(1);
    const db2 = await dbSum(POD);
    const files2 = await filesSum(POD);
    assert.notEqual(db2, db1);
    assert.notEqual(files2, files1);

    const rdb = await jobVerb(['backup', 'restore', b1.id, '--scope', 'database', '--yes']);
    assert.equal(rdb.job.state, 'succeeded', JSON.stringify(rdb.job.error));
    assert.equal(await dbSum(POD), db1, 'database restored');
    assert.equal(await filesSum(POD), files2, 'files untouched by a database-only restore');
    const safety = rdb.job.result.safetyBackupId as string;
    const afterDb = await apiGet<{ items: { id: string; kind: string }[] }>(`/environments/${envId}/backups`);
    assert.equal(afterDb.items.find((x) => x.id === safety)?.kind, 'pre-restore', 'the safety backup is listed');

    const rf = await jobVerb(['backup', 'restore', b1.id, '--scope', 'files', '--yes']);
    assert.equal(rf.job.state, 'succeeded', JSON.stringify(rf.job.error));
    assert.equal(await filesSum(POD), files1, 'files restored');
    assert.equal(await dbSum(POD), db1);

    await change(2);
    const full = await jobVerb(['backup', 'restore', b1.id, '--yes']);
    assert.equal(full.job.state, 'succeeded', JSON.stringify(full.job.error));
    assert.equal(await dbSum(POD), db1);
    assert.equal(await filesSum(POD), files1);
    // The site works after it: the object cache was flushed, the restored post is what it shows.
    const webPort = (await apiGet<{ runtime: { webPorts: Record<string, number> } }>(`/environments/${envId}`)).runtime.webPorts;
    const port = Object.values(webPort)[0];
    const home = await get(`http://127.0.0.1:${port}/`, { host: DOMAIN, 'x-forwarded-proto': 'https' });
    assert.equal(home.status, 200);
    assert.match(home.body, /Before the backup/);
    assert.doesNotMatch(home.body, /Changed 2/);

    // Download: the same backup as a .tar.gz through the API (exported on the app server).
    const archive = join(dir, 'b.tar.gz');
    const dl = await cli(['backup', 'download', b1.id, '-o', archive]);
    assert.equal(dl.code, 0, `${dl.stdout}\n${dl.stderr}`);
    const entries = (await run('tar', ['-tzf', archive])).stdout.split('\n');
    for (const e of ['db.sql', 'environment.json', 'wp-content/uploads/2026/11/photo.bin'])
      assert.ok(entries.includes(e), `${e} in ${entries.slice(0, 20).join(', ')}`);
  });

  test('a restore killed mid-way is retried and ends restored; a missing snapshot fails loudly and changes nothing', async (t) => {
    if (skip) return t.skip(skip);
    const b1 = (
      await apiGet<{ items: { id: string; kind: string; dbSnapshotId: string }[] }>(`/environments/${envId}/backups`)
    ).items.find((x) => x.kind === 'manual');
    assert.ok(b1);
    const db1 = await dbSum(POD);
    const files1 = await filesSum(POD);
    await sql(POD, `UPDATE wp_options SET option_value = 'before-kill' WHERE option_name = 'tp_marker';`);
    const changed = await dbSum(POD);
    // The global read lock lets the safety backup (a read) through and stops the restore at its
    // first write: creating the database it loads beside the live one.
    const lock = await holdReadLock(POD);
    const r = await apiPost(`/backups/${b1.id}/restore`, { scope: 'full' });
    assert.equal(r.status, 202);
    const jobId = ((await r.json()) as { job: { id: string } }).job.id;
    try {
      // Kill the job process once it is loading the database (after the safety backup).
      await waitUntil('restore loading the database', 180_000, async () => {
        const j = await apiGet<{ progress: number; state: string }>(`/jobs/${jobId}`);
        assert.notEqual(j.state, 'failed');
        return j.progress >= 40 ? true : undefined;
      });
      await waitUntil('the restore waiting for the lock', 30_000, async () =>
        Number(
          await sql(
            POD,
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for%lock%' AND INFO LIKE '%\\_\\_tp\\_%';",
          ),
        ) > 0
          ? true
          : undefined,
      );
      const killed = await run('pkill', ['-KILL', '-f', 'backup/job-main.ts']);
      assert.equal(killed.code, 0, 'the job process was running');
    } finally {
      await lock.release();
    }
    assert.equal(await dbSum(POD), changed, 'the live database is untouched when the restore dies before the swap');
    const final = await waitUntil('restore retried to the end', 300_000, async () => {
      const j = await apiGet<{ state: string; attempts: number; error: unknown }>(`/jobs/${jobId}`);
      return j.state === 'succeeded' || j.state === 'failed' || j.state === 'cancelled' ? j : undefined;
    });
    assert.equal(final.state, 'succeeded', JSON.stringify(final.error));
    assert.ok(final.attempts >= 2, `attempts ${final.attempts}`);
    assert.equal(await dbSum(POD), db1);
    assert.equal(await filesSum(POD), files1);
    const leftovers = await sql(
      POD,
      "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name LIKE 'wordpress\\_\\_tp\\_%';",
    );
    assert.equal(leftovers, '0', 'no work databases left behind');

    // A snapshot that is gone from the repository: the job fails with the reason, the site stays.
    const repo = join(dir, 'agent', 'backup', 'repo');
    // (the killed attempt's restic left its lock behind: `unlock` removes locks of dead processes)
    const pw = join(dir, 'agent', 'backup', 'password');
    await waitUntil('snapshot forgotten', 60_000, async () => {
      await run('restic', ['-r', repo, '--password-file', pw, 'unlock']);
      const f = await run('restic', ['-r', repo, '--password-file', pw, 'forget', b1.dbSnapshotId]);
      if (f.code !== 0) log(`restic forget: ${f.stderr.slice(-300)}`);
      return f.code === 0 ? true : undefined;
    });
    await sql(POD, `UPDATE wp_options SET option_value = 'after-forget' WHERE option_name = 'tp_marker';`);
    const before = await dbSum(POD);
    const miss = await jobVerb(['backup', 'restore', b1.id, '--yes']);
    assert.notEqual(miss.code, 0);
    assert.equal(miss.job.state, 'failed');
    assert.equal(miss.job.error?.code, 'TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND');
    assert.equal(miss.job.attempts, 1, 'not retried: it can not succeed');
    assert.equal(await dbSum(POD), before);
  });

  test('clone to a new domain: no old URL left, serialized options still valid, the copy serves', async (t) => {
    if (skip) return t.skip(skip);
    const c = await jobVerb(['site', 'clone', SITE, '--name', CLONE, '--domain', CLONE_DOMAIN]);
    created.push(CLONE);
    assert.equal(c.job.state, 'succeeded', JSON.stringify(c.job.error));
    const pod = `${CLONE}-production`;
    const dump = await run('podman', ['exec', `${pod}-db`, 'mariadb-dump', 'wordpress']);
    assert.equal(dump.code, 0, dump.stderr);
    assert.ok(dump.stdout.includes(CLONE_DOMAIN));
    // No URL of the old site is left (its bare host may stay in e-mail addresses: admin@…).
    for (const form of [`://${DOMAIN}`, `:\\/\\/${DOMAIN}`, `:\\\\/\\\\/${DOMAIN}`, `%3A%2F%2F${DOMAIN}`]) {
      assert.ok(!dump.stdout.includes(form), `no ${form} in the clone database`);
    }
    const probe = await sql(pod, "SELECT option_value FROM wp_options WHERE option_name = 'tp_probe';");
    const php = await pipeRun(
      'podman',
      ['exec', '-i', `${pod}-php`, 'php', '-r', '$v = unserialize(stream_get_contents(STDIN)); echo json_encode($v);'],
      probe,
    );
    assert.equal(php.code, 0, php.stderr);
    assert.deepEqual(JSON.parse(php.stdout), {
      url: `https://${CLONE_DOMAIN}/wp-content/uploads/x.jpg`,
      nested: { home: `https://${CLONE_DOMAIN}`, n: 3 },
    });
    assert.equal(await filesSum(pod), await filesSum(POD), 'the uploads came along');
    const owner = await run('podman', ['exec', `${pod}-php`, 'stat', '-c', '%U', `${UPLOADS}/2026/11/photo.bin`]);
    assert.equal(owner.stdout.trim(), 'www-data', 'files belong to the clone’s own www-data');
    const e = await apiGet<{ id: string; runtime: { webPorts: Record<string, number> } }>(
      `/environments/${(c.job.params as { targetEnvironmentId: string }).targetEnvironmentId}`,
    );
    const home = await get(`http://127.0.0.1:${Object.values(e.runtime.webPorts)[0]}/`, {
      host: CLONE_DOMAIN,
      'x-forwarded-proto': 'https',
    });
    assert.equal(home.status, 200);
    assert.match(home.body, new RegExp(CLONE_DOMAIN.replace(/\./g, '\\.')));
    assert.doesNotMatch(home.body, new RegExp(DOMAIN.replace(/\./g, '\\.')));
  });

  test('staging: create (noindex), WooCommerce-safe push keeps production orders, pull copies everything', async (t) => {
    if (skip) return t.skip(skip);
    // WooCommerce's HPOS orders table with one order, before staging is made.
    await sql(
      POD,
      "CREATE TABLE wp_wc_orders (id BIGINT PRIMARY KEY, note VARCHAR(100)); INSERT INTO wp_wc_orders VALUES (1, 'order-before-staging');",
    );
    const st = await jobVerb(['env', 'staging', SITE]);
    assert.equal(st.job.state, 'succeeded', JSON.stringify(st.job.error));
    const SPOD = `${SITE}-staging`;
    assert.equal(
      await sql(SPOD, "SELECT option_value FROM wp_options WHERE option_name = 'blog_public';"),
      '0',
      'staging is noindex',
    );
    assert.equal(await sql(POD, "SELECT option_value FROM wp_options WHERE option_name = 'blog_public';"), '1');
    const sUrl = await sql(SPOD, "SELECT option_value FROM wp_options WHERE option_name = 'siteurl';");
    assert.match(sUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await sql(SPOD, 'SELECT note FROM wp_wc_orders;'), 'order-before-staging');
    // Work happens on both sides: a sale on production, a settings change and a test order on staging.
    await sql(POD, "INSERT INTO wp_wc_orders VALUES (2, 'sale-on-production');");
    await sql(
      SPOD,
      "INSERT INTO wp_wc_orders VALUES (3, 'test-order-on-staging'); UPDATE wp_options SET option_value = 'Edited on staging' WHERE option_name = 'blogdescription';",
    );
    const push = await jobVerb(['env', 'push', SITE, 'staging']);
    assert.equal(push.job.state, 'succeeded', JSON.stringify(push.job.error));
    assert.equal(push.job.params.database, 'woo-safe');
    assert.equal(
      await sql(POD, 'SELECT GROUP_CONCAT(note ORDER BY id) FROM wp_wc_orders;'),
      'order-before-staging,sale-on-production',
      'production orders kept',
    );
    assert.equal(
      await sql(POD, "SELECT option_value FROM wp_options WHERE option_name = 'blogdescription';"),
      'Edited on staging',
    );
    assert.equal(
      await sql(POD, "SELECT option_value FROM wp_options WHERE option_name = 'blog_public';"),
      '1',
      'production stays indexable',
    );
    assert.equal(await sql(POD, "SELECT option_value FROM wp_options WHERE option_name = 'siteurl';"), `https://${DOMAIN}`);
    const pre = (await apiGet<{ items: { kind: string }[] }>(`/environments/${envId}/backups`)).items.filter(
      (b) => b.kind === 'pre-push',
    );
    assert.equal(pre.length, 1, 'a pre-push backup of production');
    const pull = await jobVerb(['env', 'pull', SITE, 'staging']);
    assert.equal(pull.job.state, 'succeeded', JSON.stringify(pull.job.error));
    assert.equal(
      await sql(SPOD, 'SELECT GROUP_CONCAT(note ORDER BY id) FROM wp_wc_orders;'),
      'order-before-staging,sale-on-production',
    );
    assert.equal(await sql(SPOD, "SELECT option_value FROM wp_options WHERE option_name = 'blog_public';"), '0');
    assert.equal(await sql(SPOD, "SELECT option_value FROM wp_options WHERE option_name = 'siteurl';"), sUrl);
  });

  test('deleting staging takes a pre-delete backup first, then removes the pod', async (t) => {
    if (skip) return t.skip(skip);
    const SPOD = `${SITE}-staging`;
    const r = await cli(['env', 'delete', SITE, 'staging', '--confirm', 'staging', '--json'], 600_000);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const { job } = JSON.parse(r.stdout) as { job: { state: string; result: { preDeleteBackups: { backupId: string }[] } } };
    assert.equal(job.state, 'succeeded');
    assert.equal(job.result.preDeleteBackups.length, 1);
    const id = job.result.preDeleteBackups[0]?.backupId ?? '';
    const shown = JSON.parse((await cli(['backup', 'show', id, '--json'])).stdout) as {
      kind: string;
      environmentName: string;
      state: string;
      dbBytes: number;
    };
    assert.deepEqual([shown.kind, shown.environmentName, shown.state], ['pre-delete', 'staging', 'available']);
    assert.ok(shown.dbBytes > 0, 'the database was dumped');
    await waitUntil('staging pod gone', 60_000, async () =>
      (await run('podman', ['pod', 'exists', SPOD])).code !== 0 ? true : undefined,
    );
  });

  test('a deleted site comes back from its pre-delete backup as a new site: the post is there, the old URL is not', async (t) => {
    if (skip) return t.skip(skip);
    // The clone is a WordPress site of its own: write on it, then delete it (pre-delete backup).
    const OLD = `${CLONE}-production`;
    await sql(
      OLD,
      `INSERT INTO wp_posts (post_author, post_date, post_date_gmt, post_content, post_title, post_excerpt, post_status, post_name, to_ping, pinged, post_modified, post_modified_gmt, post_content_filtered, guid, post_type)
       VALUES (1, NOW(), UTC_TIMESTAMP(), '<a href="https://${CLONE_DOMAIN}/about/">about</a>', 'Written before the delete', '', 'publish', 'written-before-the-delete', '', '', NOW(), UTC_TIMESTAMP(), '', 'https://${CLONE_DOMAIN}/?p=998', 'post');`,
    );
    const del = await cli(['site', 'delete', CLONE, '--confirm', CLONE, '--json'], 600_000);
    assert.equal(del.code, 0, del.stdout + del.stderr);
    const backupId = (JSON.parse(del.stdout) as { job: { result: { preDeleteBackups: { backupId: string }[] } } }).job.result
      .preDeleteBackups[0]?.backupId;
    assert.ok(backupId, del.stdout);
    await waitUntil('the deleted site’s pod gone', 60_000, async () =>
      (await run('podman', ['pod', 'exists', OLD])).code !== 0 ? true : undefined,
    );
    const left = await cli(['backup', 'deleted', '--json']);
    assert.ok(
      (JSON.parse(left.stdout) as { items: { id: string }[] }).items.some((b) => b.id === backupId),
      'listed among deleted sites’ backups',
    );
    // Back, under a new name and domain: nothing of the old environment runs on the server any more.
    const r = await jobVerb(['backup', 'restore-site', backupId, '--name', RESTORED, '--domain', RESTORED_DOMAIN]);
    created.push(RESTORED);
    assert.equal(r.job.state, 'succeeded', JSON.stringify(r.job.error));
    assert.equal(r.job.result.fromUrl, `https://${CLONE_DOMAIN}`);
    const pod = `${RESTORED}-production`;
    assert.equal(
      await sql(pod, "SELECT post_title FROM wp_posts WHERE post_name = 'written-before-the-delete';"),
      'Written before the delete',
    );
    assert.equal(
      await sql(
        pod,
        "SELECT GROUP_CONCAT(option_value ORDER BY option_name) FROM wp_options WHERE option_name IN ('home', 'siteurl');",
      ),
      `https://${RESTORED_DOMAIN},https://${RESTORED_DOMAIN}`,
    );
    const dump = await run('podman', ['exec', `${pod}-db`, 'mariadb-dump', 'wordpress']);
    assert.equal(dump.code, 0, dump.stderr);
    assert.ok(!dump.stdout.includes(`://${CLONE_DOMAIN}`), 'no old URL left in the database');
    assert.ok(dump.stdout.includes(`https://${RESTORED_DOMAIN}/about/`));
    const owner = await run('podman', ['exec', `${pod}-php`, 'stat', '-c', '%U', `${UPLOADS}/2026/11/photo.bin`]);
    assert.equal(owner.stdout.trim(), 'www-data', 'the uploads came back, owned by the new site’s www-data');
    const e = await apiGet<{ runtime: { webPorts: Record<string, number> } }>(
      `/environments/${(r.job.params as { targetEnvironmentId: string }).targetEnvironmentId}`,
    );
    const home = await get(`http://127.0.0.1:${Object.values(e.runtime.webPorts)[0]}/`, {
      host: RESTORED_DOMAIN,
      'x-forwarded-proto': 'https',
    });
    assert.equal(home.status, 200);
    assert.match(home.body, /Written before the delete/);
  });

  test('a backup of one site can not be restored into another; a corrupted repository fails loudly and leaves the site', async (t) => {
    if (skip) return t.skip(skip);
    const cloneEnv = (
      await apiGet<{ items: { id: string; name: string }[] }>(
        `/sites/${(await apiGet<{ items: { id: string; name: string }[] }>('/sites')).items.find((s) => s.name === RESTORED)?.id}/environments`,
      )
    ).items[0];
    assert.ok(cloneEnv);
    const b = (await apiGet<{ items: { id: string }[] }>(`/environments/${envId}/backups`)).items[0];
    assert.ok(b);
    const r = await apiPost(`/backups/${b.id}/restore`, { environmentId: cloneEnv.id });
    assert.equal(r.status, 422);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'TRIPLANE_ERR_BACKUP_WRONG_SITE');
    // Corrupt every data pack of the repository.
    const data = join(dir, 'agent', 'backup', 'repo', 'data');
    let n = 0;
    for (const sub of readdirSync(data)) {
      for (const f of readdirSync(join(data, sub))) {
        writeFileSync(join(data, sub, f), randomBytes(64));
        n++;
      }
    }
    assert.ok(n > 0);
    const before = [await dbSum(POD), await filesSum(POD)];
    const bad = await jobVerb(['backup', 'restore', b.id, '--yes', '--timeout', '600']);
    assert.equal(bad.job.state, 'failed', 'a restore from a corrupted repository fails');
    assert.match(bad.job.error?.code ?? '', /^TRIPLANE_ERR_BACKUP_/);
    assert.deepEqual([await dbSum(POD), await filesSum(POD)], before, 'the live site is untouched');
    assert.equal(
      (await apiGet<{ items: unknown[] }>(`/environments/${envId}/backups`)).items.length > 0,
      true,
      'existing backups stay listed',
    );
    void siteId;
  });
});
