/**
 * Backup isolation benchmark (issue 6, "Isolation from the storefront"), as root with Podman:
 * a throwaway control plane (no backup schedule), agent and edge on 127.0.0.1, one WordPress
 * site with a domain filled to ≥ 1 GB of uploads (incompressible, 100 KB–5 MB files) and a
 * ≥ 200 MB database (a plugin-like log table, wp_posts, wp_postmeta). wrk measures a cached page
 * (anonymous home page, a HIT at the edge) and an uncached one (the same page with a bypass
 * cookie: the edge passes it to PHP) idle, during the first (full) backup, and idle again; then a
 * second, incremental backup after a few changes. Prints JSON, then a Markdown summary.
 * Removes everything it created, also on failure or Ctrl-C.
 *
 *   node bench/backup/run.ts [--files-mb 1100] [--db-mb 230] [--wrk-seconds 20] [--connections 16]
 *                            [--edge-workers 2] [--load closed|open] [--ab N] [--out result.json]
 *
 * `--ab N` replaces the one loaded run per phase by N pairs of windows with the backup's lane
 * stopped and running (ABBA), which resolves far smaller effects on this noisy VM than idle
 * runs minutes apart; e.g. `--ab 3 --wrk-seconds 6`.
 *
 * Small sizes (`--files-mb 50 --db-mb 20 --wrk-seconds 3`) check the harness itself; a backup
 * shorter than the loaded wrk runs is reported (`backupOutlastedWrk: false`), not hidden.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomFill } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_LANE_NAME, spawnLowPriority } from '@triplane/agent/backup/lowprio';
import { acquireLock } from '@triplane/kernel';
import { PODMAN_TEST_LOCK } from '@triplane/runtime/integration/one-at-a-time';
import { podContainers } from '@triplane/runtime/podman/driver';
import { BIN, freePort, listening, type Run, run, sleep, startAgent, stopProcess, waitUntil } from '../../e2e/support.ts';

const { values: opt } = parseArgs({
  options: {
    'files-mb': { type: 'string', default: '1100' },
    'db-mb': { type: 'string', default: '230' },
    'wrk-seconds': { type: 'string', default: '20' },
    connections: { type: 'string', default: '16' },
    'edge-workers': { type: 'string', default: '2' },
    load: { type: 'string', default: 'closed' },
    'rate-fraction': { type: 'string', default: '0.5' },
    /** `--experiments yes|only`: measure each piece of a backup alone (and stop there with `only`). */
    experiments: { type: 'string' },
    /**
     * `--ab N`: in each phase of the first backup, N pairs of windows in ABBA order, the lane
     * stopped (SIGSTOP to every process in the `triplane-low` cgroups) and running, instead of
     * one run. Both kinds of window see the same data, page cache, open dump transaction and
     * drift of this shared VM, so their p99s compare the backup's effect alone (idle runs
     * minutes apart differ by 14–45 % here).
     */
    ab: { type: 'string', default: '0' },
    out: { type: 'string' },
  },
});
const FILES_BYTES = Number(opt['files-mb']) * 1e6;
const DB_BYTES = Number(opt['db-mb']) * 1e6;
const WRK_S = Number(opt['wrk-seconds']);
const CONNS = Number(opt.connections);
const EDGE_WORKERS = Number(opt['edge-workers']);
/**
 * `closed`: wrk, as many requests as the box can answer (saturation: every core busy, so the
 * p99 also measures how the CPU is shared). `open`: paced wrk (`pacedLoad`) at `--rate-fraction`
 * of the idle capacity wrk measured in the warm-up, cached and uncached streams at once: a shop
 * at a busy but sane load, which is what "the storefront doesn't notice" is about.
 */
const LOAD = opt.load === 'open' ? 'open' : 'closed';
if (opt.load !== 'open' && opt.load !== 'closed') throw new Error('--load must be open or closed');
const RATE_FRACTION = Number(opt['rate-fraction']);
const AB_PAIRS = Number(opt.ab);
if (!Number.isInteger(AB_PAIRS) || AB_PAIRS < 0) throw new Error('--ab must be a whole number');

const SITE = 'bkbench';
const DOMAIN = 'bkbench.example.test';
const POD = `${SITE}-production`;
/** The uncached request: a cookie the WordPress profile treats as "personalised" (WP_BYPASS_COOKIE) → pass. */
const BYPASS_COOKIE = 'wordpress_no_cache=1';

const say = (m: string) => process.stderr.write(`bench: ${m}\n`);
const MB = (n: number) => Math.round(n / 1e5) / 10;

// ---------------------------------------------------------------- cleanup (also on failure / signals)

const cleanups: (() => Promise<unknown>)[] = [];
let failed = false;
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (e) {
        say(`cleanup: ${String(e)}`);
      }
    }
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    say(`${sig}: cleaning up`);
    void cleanup().then(() => process.exit(130));
  });
}

// ---------------------------------------------------------------- small helpers

/**
 * Every process of the low-priority lane's jobs: the job leaves under `triplane-low` (cpu
 * controller), never the lane directory itself, and never a process that is not the job's own
 * (cgroup v1 lists a process once any of its threads is in the group) or a podman process.
 */
async function lanePids(): Promise<number[]> {
  const pids: number[] = [];
  const lane = join('/sys/fs/cgroup/cpu', DEFAULT_LANE_NAME);
  for (const e of await readdir(lane, { withFileTypes: true }).catch(() => [])) {
    if (!e.isDirectory()) continue;
    const procs = await readFile(join(lane, e.name, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const l of procs.split('\n')) {
      const pid = Number(l);
      if (!l.trim() || !Number.isInteger(pid)) continue;
      const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
      // nor podman: a stopped podman process would keep holding its container's lock and hang
      // every other podman call on it (the agent's and this bench's own)
      if (comm && !/^(mariadbd|mysqld|podman|conmon)$/.test(comm)) pids.push(pid);
    }
  }
  return pids;
}

let lanePaused = false;
/** Stop or continue the whole lane (`--ab`): the backup's processes, not the storefront's. */
async function pauseLane(pause: boolean): Promise<number> {
  const pids = await lanePids();
  for (const pid of pids) {
    try {
      process.kill(pid, pause ? 'SIGSTOP' : 'SIGCONT');
    } catch {
      // exited in between
    }
  }
  lanePaused = pause;
  if (!pause) {
    // a process that re-stops itself when its child stops (nsenter with a pid namespace does)
    // may have raced the first SIGCONT
    await sleep(200);
    for (const pid of await lanePids()) {
      const state = (await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')).replace(/^.*\) /s, '')[0];
      if (state === 'T') process.kill(pid, 'SIGCONT');
    }
  }
  return pids.length;
}
function pipeRun(cmd: string, args: string[], input: string): Promise<Run> {
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

async function must(cmd: string, args: string[], o: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  const r = await run(cmd, args, o);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}\n${r.stdout}\n${r.stderr}`.slice(0, 4000));
  return r.stdout;
}

async function sql(statements: string): Promise<string> {
  const r = await pipeRun(
    'podman',
    ['exec', '-i', `${POD}-db`, 'mariadb', '--batch', '--skip-column-names', 'wordpress'],
    statements,
  );
  if (r.code !== 0) throw new Error(`sql: ${r.stderr}`);
  return r.stdout.trim();
}

/** GET / over TLS to the edge (its platform CA is not trusted here; SNI = the site's domain). */
function httpsGet(
  port: number,
  headers: Record<string, string>,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path: '/', headers, servername: DOMAIN, rejectUnauthorized: false, timeout: 30_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Paced load: each stream is a wrk run whose connections wait a random (exponential) think time
 * between requests (wrk's Lua `delay()`), sized so the stream sends about `rate` req/s — a shop
 * at a busy but sane load instead of a saturated box. Both streams run at once. (A Node client
 * can't drive ~1,000 TLS req/s on this box without becoming the bottleneck; wrk can.)
 */
async function pacedLoad(
  port: number,
  streams: { cookie: string | null; rate: number; connections: number }[],
  seconds: number,
  dir: string,
): Promise<(WrkResult & { cmd: string; rate: number })[]> {
  return Promise.all(
    streams.map(async (st, i) => {
      // Each connection's cycle is its response time + think time; the think time dominates for
      // cached pages, and the response time is taken off for uncached ones (x 0.85).
      const meanMs = Math.max(1, ((st.connections * 1000) / st.rate) * (st.cookie ? 0.85 : 1));
      const script = join(dir, `paced-${i}.lua`);
      const histFile = `${script}.hist`;
      // done(): every distinct latency (µs) and its count, so windows can be pooled (--ab): a
      // 6 s window of the uncached page holds ~60 requests, whose "p99" is just their maximum.
      await writeFile(
        script,
        `math.randomseed(${1000 + i})\nfunction delay() return math.floor(-math.log(1 - math.random()) * ${meanMs.toFixed(1)}) end\n` +
          `function done(summary, latency, requests)\n  local f = io.open("${histFile}", "w")\n  for k = 1, #latency do\n    local v, c = latency(k)\n    f:write(v, " ", c, "\\n")\n  end\n  f:close()\nend\n`,
      );
      await rm(histFile, { force: true });
      const r = await wrkFor(port, st.cookie, seconds, { threads: 1, connections: st.connections, script });
      const hist: [number, number][] = (await readFile(histFile, 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ').map(Number) as [number, number]);
      return { ...r, rate: st.rate, hist };
    }),
  );
}

const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/'/g, "\\'");

async function duBytes(path: string): Promise<number> {
  return Number((await must('du', ['-sb', path])).split('\t')[0]);
}

// ---------------------------------------------------------------- data: uploads

/** Log-uniform sizes between 100 KB and 5 MB (most uploads are small, a few are large). */
function uploadSize(): number {
  return Math.round(Math.exp(Math.log(100e3) + Math.random() * (Math.log(5e6) - Math.log(100e3))));
}

/** Random (incompressible, never deduplicated) files under `root`, owned like the volume. */
async function writeUploads(root: string, total: number, owner: { uid: number; gid: number }, prefix: string) {
  const plan: { dir: string; name: string; size: number }[] = [];
  let sum = 0;
  for (let i = 0; sum < total; i++) {
    const size = uploadSize();
    const year = 2019 + (i % 8);
    const month = String(1 + (Math.floor(i / 8) % 12)).padStart(2, '0');
    plan.push({ dir: `${year}/${month}`, name: `${prefix}-${i}${i % 3 === 0 ? '-1024x768' : ''}.jpg`, size });
    sum += size;
  }
  for (const d of new Set(plan.map((p) => p.dir.split('/')[0] as string).concat(plan.map((p) => p.dir)))) {
    await mkdir(join(root, d), { recursive: true });
    await chown(join(root, d), owner.uid, owner.gid);
  }
  let next = 0;
  const worker = async () => {
    for (;;) {
      const p = plan[next++];
      if (!p) return;
      const buf = await new Promise<Buffer>((res, rej) =>
        randomFill(Buffer.allocUnsafe(p.size), (e, b) => (e ? rej(e) : res(b))),
      );
      const f = join(root, p.dir, p.name);
      await writeFile(f, buf, { mode: 0o644 });
      await chown(f, owner.uid, owner.gid);
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  return { files: plan.length, bytes: sum, paths: plan.map((p) => join(root, p.dir, p.name)) };
}

/**
 * Drop the uploads from the page cache (after a sync): a real site's 1 GB of uploads is mostly
 * on disk, not in RAM, so the backup must read it. Per file (fadvise DONTNEED via dd), so
 * nothing else on the host is evicted.
 */
async function evictFromPageCache(root: string): Promise<void> {
  await must('sync', ['-f', root]);
  await must('find', [root, '-type', 'f', '-exec', 'dd', 'if={}', 'iflag=nocache', 'count=0', 'status=none', ';'], {
    timeoutMs: 600_000,
  });
}

// ---------------------------------------------------------------- data: database

/** Text that compresses like prose: Zipf-ish picks from a few thousand made-up words. */
const SYL = ['ka', 'lo', 'mi', 'ne', 'ru', 'ta', 'shi', 'po', 've', 'da', 'quo', 'ri', 'sen', 'tor', 'al', 'em', 'is', 'un'];
const WORDS = Array.from({ length: 4000 }, () => {
  let w = '';
  const n = 1 + Math.floor(Math.random() * 4);
  for (let i = 0; i < n; i++) w += SYL[Math.floor(Math.random() * SYL.length)];
  return w;
});
const word = () => WORDS[Math.floor(WORDS.length * Math.random() ** 2)] as string;
function sentence(n: number): string {
  const w: string[] = [];
  for (let i = 0; i < n; i++) w.push(word());
  const s = w.join(' ');
  return `${s.charAt(0).toUpperCase()}${s.slice(1)}.`;
}
function paragraphs(bytes: number): string {
  let out = '';
  while (out.length < bytes) {
    let p = '';
    while (p.length < 400) p += `${sentence(6 + Math.floor(Math.random() * 14))} `;
    out += `<!-- wp:paragraph -->\n<p>${p.trim()}</p>\n<!-- /wp:paragraph -->\n\n`;
  }
  return out;
}
const hex = (n: number) => {
  let s = '';
  while (s.length < n) s += Math.random().toString(16).slice(2);
  return s.slice(0, n);
};
const dt = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 19).replace('T', ' ');

const PLUGIN_TABLE = `CREATE TABLE IF NOT EXISTS wp_bench_activity_log (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  created_at DATETIME NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  object_type VARCHAR(32) NOT NULL,
  object_id BIGINT UNSIGNED NOT NULL,
  action VARCHAR(64) NOT NULL,
  ip VARCHAR(45) NOT NULL,
  user_agent VARCHAR(255) NOT NULL,
  payload LONGTEXT NOT NULL,
  KEY created_at (created_at),
  KEY object (object_type, object_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;`;

function activityRow(): string {
  const payload = JSON.stringify({
    session: hex(32),
    path: `/product/${word()}-${word()}/`,
    referrer: Math.random() < 0.5 ? 'https://www.google.com/' : `https://${word()}.example/${word()}`,
    cart: Array.from({ length: 1 + Math.floor(Math.random() * 6) }, () => ({
      sku: hex(10),
      qty: 1 + Math.floor(Math.random() * 3),
      note: sentence(8),
    })),
    message: sentence(40),
  });
  return `('${dt(Math.random() * 900)}',${Math.floor(Math.random() * 5000)},'${['order', 'product', 'user', 'post'][Math.floor(Math.random() * 4)]}',${Math.floor(Math.random() * 1e6)},'${word()}_${word()}','10.${Math.floor(Math.random() * 255)}.${Math.floor(Math.random() * 255)}.${Math.floor(Math.random() * 255)}','Mozilla/5.0 (${word()}) ${word()}/${Math.floor(Math.random() * 120)}','${esc(payload)}')`;
}

function postRow(id: number): string {
  const title = sentence(3 + Math.floor(Math.random() * 6)).slice(0, -1);
  const slug = `${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${id}`;
  const date = dt(Math.random() * 1100);
  return `(${id},1,'${date}','${date}','${esc(paragraphs(2500 + Math.floor(Math.random() * 4000)))}','${esc(title)}','${esc(sentence(25))}','publish','${slug}','','','${date}','${date}','','https://${DOMAIN}/?p=${id}','post')`;
}

function metaRows(id: number): string[] {
  const ser = (o: Record<string, string>) =>
    `a:${Object.keys(o).length}:{${Object.entries(o)
      .map(([k, v]) => `s:${k.length}:"${k}";s:${Buffer.byteLength(v)}:"${v}";`)
      .join('')}}`;
  return [
    `(${id},'_edit_last','1')`,
    `(${id},'_thumbnail_id','${Math.floor(Math.random() * 1e5)}')`,
    `(${id},'_yoast_wpseo_metadesc','${esc(sentence(22))}')`,
    `(${id},'_bench_layout','${esc(ser({ hero: sentence(6), color: `#${hex(6)}`, blocks: sentence(30), cta: `https://${DOMAIN}/shop/` }))}')`,
    `(${id},'_bench_views','${Math.floor(Math.random() * 1e5)}')`,
  ];
}

/** Stream `approxBytes` of bulk INSERTs into the site's database through `mariadb` in the db container. */
async function fillDatabase(approxBytes: number): Promise<{ sqlBytes: number; posts: number; logRows: number }> {
  await sql(PLUGIN_TABLE);
  let nextId = Number(await sql('SELECT IFNULL(MAX(ID),0)+1 FROM wp_posts;'));
  const c = spawn('podman', ['exec', '-i', `${POD}-db`, 'mariadb', 'wordpress'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  c.stderr.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
  });
  const exited = new Promise<number | null>((r) => c.on('close', r));
  let sent = 0;
  const write = async (s: string) => {
    sent += s.length;
    if (!c.stdin.write(s)) await new Promise<void>((r) => c.stdin.once('drain', () => r()));
  };
  await write('SET SESSION unique_checks=0, foreign_key_checks=0;\n');
  const STMT = 1_000_000;
  let posts = 0;
  let logRows = 0;
  // 45 % plugin log, 55 % posts + meta: the shape of a shop's database after a few years.
  while (sent < approxBytes) {
    await write('START TRANSACTION;\n');
    for (let k = 0; k < 8 && sent < approxBytes; k++) {
      if (sent < approxBytes * 0.45) {
        const rows: string[] = [];
        let len = 0;
        while (len < STMT) {
          const r = activityRow();
          rows.push(r);
          len += r.length;
        }
        logRows += rows.length;
        await write(
          `INSERT INTO wp_bench_activity_log (created_at,user_id,object_type,object_id,action,ip,user_agent,payload) VALUES\n${rows.join(',\n')};\n`,
        );
      } else {
        const p: string[] = [];
        const m: string[] = [];
        let len = 0;
        while (len < STMT) {
          const r = postRow(nextId);
          p.push(r);
          m.push(...metaRows(nextId));
          len += r.length;
          nextId++;
        }
        posts += p.length;
        await write(
          `INSERT INTO wp_posts (ID,post_author,post_date,post_date_gmt,post_content,post_title,post_excerpt,post_status,post_name,to_ping,pinged,post_modified,post_modified_gmt,post_content_filtered,guid,post_type) VALUES\n${p.join(',\n')};\n`,
        );
        await write(`INSERT INTO wp_postmeta (post_id,meta_key,meta_value) VALUES\n${m.join(',\n')};\n`);
      }
    }
    await write('COMMIT;\n');
  }
  c.stdin.end();
  const code = await exited;
  if (code !== 0) throw new Error(`loading the database failed (exit ${code}): ${stderr.slice(-2000)}`);
  return { sqlBytes: sent, posts, logRows };
}

// ---------------------------------------------------------------- load and resource sampling

const TERMINAL = ['succeeded', 'failed', 'cancelled'];
type Job = {
  id: string;
  state: string;
  progress: number;
  message: string;
  startedAt: string | null;
  finishedAt: string | null;
  params: { backupId?: string };
};
/** The backup step a job message belongs to (packages/agent/src/backup/executor.ts createBackup). */
function phaseOf(message: string): 'database' | 'files' | 'other' {
  if (/^(dumping the database|database:)/.test(message)) return 'database';
  if (/^(backing up the files|files:)/.test(message)) return 'files';
  return 'other';
}
type Measured = WrkResult & {
  cmd: string;
  profile: ReturnType<typeof profile>;
  backup?: { before: string; after: string; covered: boolean };
};
interface LoadedPhase {
  wrkStartedAtS: number;
  wrkEndedAtS: number;
  cached: Measured;
  uncached: Measured;
}

interface AbPhase {
  windows: ({ paused: boolean; stoppedProcesses: number } & Record<'cached' | 'uncached', Measured>)[];
  summary: Record<
    'cached' | 'uncached',
    {
      windows: number;
      p99Stopped: number;
      p99Running: number;
      ratio: number;
      meanRatio: number;
      p99sStopped: number[];
      p99sRunning: number[];
      rpsStopped: number;
      rpsRunning: number;
      /** Paced runs: p99 of all the windows' requests pooled, per side (ms), their count, and the ratio. */
      pooled?: { p99Stopped: number; p99Running: number; nStopped: number; nRunning: number; ratio: number };
    }
  >;
}

/** The q-quantile (ms) of pooled [µs, count] histograms; n = the requests in them. */
function pooledQuantile(hists: [number, number][][], q: number): { ms: number; n: number } {
  const all = hists.flat().sort((a, b) => a[0] - b[0]);
  const n = all.reduce((t, [, c]) => t + c, 0);
  const want = Math.ceil(q * n);
  let seen = 0;
  for (const [v, c] of all) {
    seen += c;
    if (seen >= want) return { ms: Math.round(v / 10) / 100, n };
  }
  return { ms: Number.NaN, n };
}

interface WrkResult {
  /** Paced runs: [latency µs, count] of every distinct latency. */
  hist?: [number, number][];
  rps: number;
  p50ms: number;
  p99ms: number;
  requests: number;
  non2xx: number;
  socketErrors: string | null;
}

function toMs(v: string | undefined): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v ?? '');
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

function wrk(port: number, cookie: string | null): Promise<WrkResult & { cmd: string }> {
  return wrkFor(port, cookie, WRK_S);
}

async function wrkFor(
  port: number,
  cookie: string | null,
  seconds: number,
  o: { threads?: number; connections?: number; script?: string } = {},
): Promise<WrkResult & { cmd: string }> {
  const args = [`-t${o.threads ?? 2}`, `-c${o.connections ?? CONNS}`, `-d${seconds}s`, '--timeout', '10s', '--latency'];
  if (o.script) args.push('-s', o.script);
  args.push('-H', `Host: ${DOMAIN}`);
  if (cookie) args.push('-H', `Cookie: ${cookie}`);
  // wrk sends SNI 127.0.0.1 (the edge's fallback certificate; wrk does not verify) and routes by Host.
  args.push(`https://127.0.0.1:${port}/`);
  const r = await run('wrk', args, { timeoutMs: (seconds + 60) * 1000 });
  if (r.code !== 0) throw new Error(`wrk: ${r.stderr}`);
  const out = r.stdout;
  return {
    cmd: `wrk ${args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`,
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    p50ms: toMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1]),
    p99ms: toMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1]),
    requests: Number(/(\d+) requests in/.exec(out)?.[1]),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: /Socket errors:.*$/m.exec(out)?.[0] ?? null,
  };
}

/** Host CPU (/proc/stat), per-container CPU (cpuacct), disk (diskstats), InnoDB disk reads, edge cache counters. */
interface Sample {
  t: number;
  cpu: number[];
  containers: Record<string, number>;
  edgeTicks: number;
  disk: { readSectors: number; writeSectors: number; busyMs: number };
  innodbDiskReads: number;
  cache: Record<string, number>;
  procs: Map<number, { comm: string; nice: number; ticks: number }>;
}

const labels = new Map<number, string>();
/** Node processes are all "MainThread": name them by script (and triplane subcommand). */
async function nodeLabel(pid: number): Promise<string> {
  let l = labels.get(pid);
  if (l === undefined) {
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const i = argv.findIndex((a, k) => k > 0 && /(\.[cm]?[jt]s|\/bin\/triplane)$/.test(a));
    const script = i > 0 ? (argv[i] ?? '').split('/').pop() : undefined;
    l = script === 'triplane' ? `triplane ${argv[i + 1] ?? ''}` : `node ${script ?? argv.slice(1, 3).join(' ').slice(0, 40)}`;
    if (pid === process.pid) l = 'node (this bench)';
    labels.set(pid, l);
  }
  return l;
}

/** Every process's CPU ticks, command and nice value (to see who takes the cores: restic at nice 19, podman, mariadbd…). */
async function processTicks(): Promise<Map<number, { comm: string; nice: number; ticks: number }>> {
  const m = new Map<number, { comm: string; nice: number; ticks: number }>();
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const s = await readFile(`/proc/${e}/stat`, 'utf8').catch(() => '');
    const close = s.lastIndexOf(')');
    if (close < 0) continue;
    const f = s.slice(close + 2).split(' ');
    const pid = Number(e);
    let comm = s.slice(s.indexOf('(') + 1, close);
    if (labels.has(pid) || comm === 'MainThread' || comm === 'node') comm = await nodeLabel(pid);
    else if (comm.startsWith('kworker/')) comm = 'kworker (kernel)';
    m.set(pid, { comm, nice: Number(f[16] ?? 0), ticks: Number(f[11] ?? 0) + Number(f[12] ?? 0) });
    // wrk has exited by the second sample: its CPU is in the bench's reaped-children time.
    if (pid === process.pid)
      m.set(-1, { comm: 'wrk and other reaped children of the bench', nice: 0, ticks: Number(f[13] ?? 0) + Number(f[14] ?? 0) });
  }
  return m;
}

async function cpuacctPath(pid: number): Promise<string | null> {
  for (const l of (await readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n')) {
    const [, ctrls, path] = l.split(':');
    if (ctrls?.split(',').includes('cpuacct')) return `/sys/fs/cgroup/cpuacct${path}/cpuacct.usage`;
  }
  return null;
}

async function procTicks(pid: number): Promise<number> {
  const s = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11] ?? 0) + Number(f[12] ?? 0); // utime + stime (fields 14, 15)
}

class Sampler {
  readonly #containers: { name: string; usage: string }[] = [];
  readonly edgePid: number;
  readonly metricsPort: number;
  readonly disk: string;
  constructor(edgePid: number, metricsPort: number, disk: string) {
    this.edgePid = edgePid;
    this.metricsPort = metricsPort;
    this.disk = disk;
  }
  async init(): Promise<void> {
    for (const c of await podContainers(POD)) {
      const p = await cpuacctPath(c.pid);
      if (p) this.#containers.push({ name: c.name.slice(POD.length + 1), usage: p });
    }
  }
  async take(): Promise<Sample> {
    const cpu = ((await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
    const containers: Record<string, number> = {};
    for (const c of this.#containers) containers[c.name] = Number(await readFile(c.usage, 'utf8').catch(() => '0')) / 1e9;
    const kids = (await run('ps', ['-o', 'pid=', '--ppid', String(this.edgePid)])).stdout.split('\n').map(Number).filter(Boolean);
    for (const k of [this.edgePid, ...kids]) labels.set(k, 'triplane edge (ours)');
    let edgeTicks = await procTicks(this.edgePid);
    for (const k of kids) edgeTicks += await procTicks(k);
    const ds = (await readFile('/proc/diskstats', 'utf8')).split('\n').find((l) => l.trim().split(/\s+/)[2] === this.disk);
    const d = ds?.trim().split(/\s+/) ?? [];
    const st = await sql("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_reads';").catch(() => '');
    const cache: Record<string, number> = {};
    const text = await (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text().catch(() => '');
    for (const m of text.matchAll(/^triplane_edge_requests_total\{([^}]*)\} (\d+)/gm)) {
      const k = /cache="([^"]*)"/.exec(m[1] ?? '')?.[1] ?? 'none';
      cache[k] = (cache[k] ?? 0) + Number(m[2]);
    }
    return {
      procs: await processTicks(),
      t: Date.now(),
      cpu,
      containers,
      edgeTicks,
      disk: { readSectors: Number(d[5] ?? 0), writeSectors: Number(d[9] ?? 0), busyMs: Number(d[12] ?? 0) },
      innodbDiskReads: Number(st.split('\t')[1] ?? 0),
      cache,
    };
  }
}

/** What happened between two samples: where the 2 cores went, disk traffic, cache outcomes. */
function profile(a: Sample, b: Sample) {
  const d = b.cpu.map((v, i) => v - (a.cpu[i] ?? 0));
  const total = d.reduce((x, y) => x + y, 0) || 1;
  const pct = (n: number) => Math.round((n / total) * 1000) / 10;
  const secs = (b.t - a.t) / 1000;
  const cores = (cpuSeconds: number) => Math.round((cpuSeconds / secs) * 100) / 100;
  const containers: Record<string, number> = {};
  for (const k of Object.keys(b.containers)) containers[k] = cores((b.containers[k] ?? 0) - (a.containers[k] ?? 0));
  const cache: Record<string, number> = {};
  for (const k of Object.keys(b.cache)) {
    const n = (b.cache[k] ?? 0) - (a.cache[k] ?? 0);
    if (n) cache[k] = n;
  }
  // Top CPU users in the window by command and nice value (processes that started in it count whole).
  const byCmd = new Map<string, number>();
  for (const [pid, p] of b.procs) {
    const before = a.procs.get(pid);
    const ticks = p.ticks - (before && before.comm === p.comm ? before.ticks : 0);
    if (ticks > 0) byCmd.set(`${p.comm} (nice ${p.nice})`, (byCmd.get(`${p.comm} (nice ${p.nice})`) ?? 0) + ticks);
  }
  const topProcesses = Object.fromEntries(
    [...byCmd.entries()]
      .sort((x, y) => y[1] - x[1])
      .slice(0, 12)
      .map(([k, v]) => [k, cores(v / 100)]),
  );
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = d;
  return {
    hostCpuPct: {
      user: pct(user),
      nice: pct(nice),
      system: pct(system + irq + softirq),
      iowait: pct(iowait),
      idle: pct(idle),
      steal: pct(steal),
    },
    coresUsed: { ...containers, edge: cores((b.edgeTicks - a.edgeTicks) / 100) },
    diskMBps: {
      read: Math.round(((b.disk.readSectors - a.disk.readSectors) * 512) / 1e6 / secs),
      write: Math.round(((b.disk.writeSectors - a.disk.writeSectors) * 512) / 1e6 / secs),
      busyPct: Math.round(((b.disk.busyMs - a.disk.busyMs) / (secs * 1000)) * 100),
    },
    innodbDiskReads: b.innodbDiskReads - a.innodbDiskReads,
    edgeCache: cache,
    topProcesses,
  };
}

// ---------------------------------------------------------------- main

async function main(): Promise<Record<string, unknown>> {
  if (process.getuid?.() !== 0) throw new Error('run as root (rootful Podman, volume mountpoints, cgroups)');
  for (const tool of ['wrk', 'podman', 'restic']) {
    if ((await run('sh', ['-c', `command -v ${tool}`])).code !== 0) throw new Error(`${tool} is not installed`);
  }
  const out: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: {
      nproc: cpus().length,
      cpu: cpus()[0]?.model,
      loadBefore: loadavg()
        .map((x) => x.toFixed(2))
        .join(' '),
      node: process.version,
    },
    params: {
      filesMB: FILES_BYTES / 1e6,
      dbMB: DB_BYTES / 1e6,
      wrkSeconds: WRK_S,
      connections: CONNS,
      edgeWorkers: EDGE_WORKERS,
      load: LOAD,
      ...(LOAD === 'open' ? { rateFraction: RATE_FRACTION } : {}),
    },
  };
  // One Podman-driving process at a time (the e2e tests take the same lock): web ports from 20000
  // and uid slots are allocated per control plane, and two would collide.
  say('waiting for the Podman test lock');
  const release = await acquireLock(PODMAN_TEST_LOCK, { waitMs: 60 * 60_000, what: 'a test file that drives Podman' });
  cleanups.push(release);
  if (await listening(20000)) throw new Error('port 20000 is taken (a site of another control plane): stop it first');
  await must(BIN, ['images', 'build'], { timeoutMs: 30 * 60_000 });
  await run('podman', ['pod', 'rm', '-f', '-t', '0', POD]);

  const dir = await mkdtemp(join(tmpdir(), 'triplane-bench-backup-'));
  // Kept after a failure, for its control, agent and edge logs.
  cleanups.push(async () => {
    if (failed) say(`kept ${dir} (control.log, agent.log, edge.log)`);
    else await rm(dir, { recursive: true, force: true });
  });
  const homeDir = join(dir, 'home');
  let env: NodeJS.ProcessEnv = {};
  // The lane's knobs under test pass through (packages/agent/src/backup/job-main.ts); no other TRIPLANE_*.
  const KNOBS = ['TRIPLANE_BACKUP_LIMIT_UPLOAD_KIB', 'TRIPLANE_BACKUP_IO_READ_MIB', 'TRIPLANE_BACKUP_IO_WRITE_MIB'];
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TRIPLANE_') || KNOBS.includes(k)) env[k] = v;
  say(`lane knobs: ${KNOBS.map((k) => `${k}=${process.env[k] ?? '(default)'}`).join(' ')}`);
  env = { ...env, HOME: homeDir, XDG_CONFIG_HOME: join(homeDir, '.config'), TRIPLANE_LOG_LEVEL: 'warn' };
  const cli = (args: string[], timeoutMs = 300_000) => must(BIN, args, { env, timeoutMs });
  const dataDir = join(dir, 'data');
  const token = /^token: (tpl_\S+)$/m.exec(await cli(['init', '--data-dir', dataDir]))?.[1];
  if (!token) throw new Error('init printed no token');
  const apiPort = await freePort();
  const api = `http://127.0.0.1:${apiPort}`;
  const spawnLogged = (name: string, args: string[], e: NodeJS.ProcessEnv): ChildProcess => {
    const fd = openSync(join(dir, `${name}.log`), 'a', 0o600);
    const c = spawn(BIN, args, { env: e, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    return c;
  };
  const control = spawnLogged(
    'control',
    ['control', '--data-dir', dataDir, '--listen', `127.0.0.1:${apiPort}`, '--workers', '1', '--no-backup-schedule'],
    env,
  );
  cleanups.push(() => stopProcess(control));
  await waitUntil('control ready', 60_000, async () => ((await fetch(`${api}/readyz`)).ok ? true : undefined));
  env = { ...env, TRIPLANE_API: api, TRIPLANE_TOKEN: token };
  const apiGet = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${api}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
    if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
    return (await r.json()) as T;
  };

  const app = JSON.parse(await cli(['server', 'create', 'app1', '--role', 'app', '--json'])) as { joinToken: string };
  const agent = startAgent({ api, dir, env, joinToken: app.joinToken });
  labels.set(agent.pid ?? 0, 'triplane agent (ours)');
  labels.set(control.pid ?? 0, 'triplane control (ours)');
  cleanups.push(() => stopProcess(agent));
  const edgeSrv = JSON.parse(await cli(['server', 'create', 'edge1', '--role', 'edge', '--json'])) as { joinToken: string };
  const edgePort = await freePort();
  const metricsPort = await freePort();
  // HTTPS, as visitors reach a store: WordPress is installed as https://DOMAIN, so over plain HTTP
  // (X-Forwarded-Proto: http) it would answer with redirects. The plain listener is unused.
  const plainPort = await freePort();
  const edge = spawnLogged(
    'edge',
    [
      'edge',
      '--api',
      api,
      '--state-dir',
      join(dir, 'edge'),
      '--listen',
      `127.0.0.1:${plainPort}`,
      '--listen-https',
      `127.0.0.1:${edgePort}`,
      '--listen-metrics',
      `127.0.0.1:${metricsPort}`,
      '--workers',
      String(EDGE_WORKERS),
    ],
    { ...env, TRIPLANE_JOIN_TOKEN: edgeSrv.joinToken },
  );
  cleanups.push(() => stopProcess(edge));

  // The site. Deleting it through the platform removes pods, volumes and secrets; the podman
  // commands after it catch whatever a failed delete left.
  cleanups.push(async () => {
    await run('podman', ['pod', 'rm', '-f', '-t', '0', POD]);
    await run('podman', ['volume', 'rm', '-f', `${POD}-wp-content`, `${POD}-db-data`]);
    const secrets = await run('podman', ['secret', 'ls', '--format', '{{.Name}}']);
    for (const s of secrets.stdout.split('\n')) if (s.startsWith(POD)) await run('podman', ['secret', 'rm', s]);
  });
  cleanups.push(() => run(BIN, ['site', 'delete', SITE, '--confirm', SITE], { env, timeoutMs: 180_000 }));
  let t = Date.now();
  const created = JSON.parse(await cli(['site', 'create', SITE, '--kind', 'wordpress', '--domain', DOMAIN, '--json'])) as {
    environment: { id: string };
  };
  const envId = created.environment.id;
  await waitUntil('WordPress installed', 300_000, async () => {
    const e = await apiGet<{ status: string; observed: { installed?: boolean }[] }>(`/environments/${envId}`);
    return e.status === 'running' && e.observed[0]?.installed ? true : undefined;
  });
  const home = (cookie?: string) => httpsGet(edgePort, { host: DOMAIN, ...(cookie ? { cookie } : {}) });
  await waitUntil('home page through the edge', 120_000, async () => {
    const r = await home();
    if (r.status === 200) return true;
    throw new Error(`${r.status} ${r.headers.location ?? ''} ${r.body.slice(0, 200)}`);
  });
  out.siteReadyMs = Date.now() - t;
  say(`site ready in ${out.siteReadyMs} ms`);

  // Data.
  const mp = (await must('podman', ['volume', 'inspect', `${POD}-wp-content`, '--format', '{{.Mountpoint}}'])).trim();
  const owner = await stat(mp);
  const uploads = join(mp, 'uploads');
  await mkdir(uploads, { recursive: true });
  await chown(uploads, owner.uid, owner.gid);
  t = Date.now();
  const files = await writeUploads(uploads, FILES_BYTES, { uid: owner.uid, gid: owner.gid }, 'img');
  const filesMs = Date.now() - t;
  t = Date.now();
  await evictFromPageCache(uploads);
  say(`uploads: ${files.files} files, ${MB(files.bytes)} MB in ${filesMs} ms (page cache dropped in ${Date.now() - t} ms)`);
  t = Date.now();
  const db = await fillDatabase(DB_BYTES);
  const dbMs = Date.now() - t;
  // Fresh statistics, or information_schema reports the sizes of the nearly empty tables.
  await sql('ANALYZE TABLE wp_posts, wp_postmeta, wp_bench_activity_log;');
  const dbSize = Number(
    await sql("SELECT SUM(data_length + index_length) FROM information_schema.tables WHERE table_schema = 'wordpress';"),
  );
  const dbVolume = (await must('podman', ['volume', 'inspect', `${POD}-db-data`, '--format', '{{.Mountpoint}}'])).trim();
  // Rows went in behind WordPress's back: drop its object cache so the home page shows them.
  await must('podman', ['exec', `${POD}-redis`, 'redis-cli', 'FLUSHALL']);
  say(
    `database: ${MB(db.sqlBytes)} MB of SQL (${db.posts} posts, ${db.logRows} log rows) in ${dbMs} ms; InnoDB ${MB(dbSize)} MB`,
  );
  out.data = {
    uploads: { files: files.files, bytes: files.bytes, writeMs: filesMs, volumeBytes: await duBytes(mp) },
    database: {
      ...db,
      loadMs: dbMs,
      innodbBytes: dbSize,
      schemaDirBytes: await duBytes(join(dbVolume, 'wordpress')),
      dataDirBytes: await duBytes(dbVolume),
    },
  };

  // The two pages: what they are, and that the edge treats them as intended.
  for (let i = 0; i < 10; i++) await home();
  const cached = await home();
  const uncached = await home(BYPASS_COOKIE);
  const newest = await sql(
    "SELECT post_title FROM wp_posts WHERE post_type='post' AND post_status='publish' ORDER BY post_date DESC LIMIT 1;",
  );
  if (cached.status !== 200 || uncached.status !== 200) throw new Error(`home page: ${cached.status} / ${uncached.status}`);
  if (!uncached.body.includes(newest)) throw new Error(`the home page does not show the newest bench post "${newest}"`);
  out.pages = {
    cached: { request: `GET / Host: ${DOMAIN}`, bytes: cached.body.length, xCache: cached.headers['x-cache'] },
    uncached: {
      request: `GET / Host: ${DOMAIN} Cookie: ${BYPASS_COOKIE}`,
      bytes: uncached.body.length,
      xCache: uncached.headers['x-cache'],
    },
  };

  const disk = (await must('sh', ['-c', `lsblk -no pkname "$(findmnt -no SOURCE --target ${dir})" 2>/dev/null || true`])).trim();
  const diskName = disk || (await must('sh', ['-c', `basename "$(findmnt -no SOURCE --target ${dir})"`])).trim();
  const sampler = new Sampler(edge.pid ?? 0, metricsPort, diskName);
  await sampler.init();
  /** Where the backup was before and after a load run; `covered`: the whole run fell inside one phase of a still running backup. */
  const coverage = (before: Job | undefined, after: Job | undefined) =>
    before && after
      ? {
          before: before.message,
          after: after.message,
          covered: after.state === 'running' && phaseOf(before.message) === phaseOf(after.message),
        }
      : undefined;
  const measure = async (label: string, cookie: string | null, job?: () => Promise<Job>) => {
    const jobBefore = job ? await job() : undefined;
    const a = await sampler.take();
    const r = await wrk(edgePort, cookie);
    const b = await sampler.take();
    const jobAfter = job ? await job() : undefined;
    say(
      `${label}: ${r.rps} req/s, p50 ${r.p50ms} ms, p99 ${r.p99ms} ms${jobAfter ? ` (backup: ${jobAfter.state}, ${jobAfter.message})` : ''}`,
    );
    const backup = coverage(jobBefore, jobAfter);
    return { ...r, profile: profile(a, b), ...(backup ? { backup } : {}) };
  };

  // Open loop: both pages at once, at a fixed share of the idle capacity (set after the warm-up).
  const rates = { cached: 0, uncached: 0 };
  const measureOpen = async (label: string, job?: () => Promise<Job>) => {
    const jobBefore = job ? await job() : undefined;
    const a = await sampler.take();
    const [c, u] = await pacedLoad(
      edgePort,
      [
        { cookie: null, rate: rates.cached, connections: CONNS },
        { cookie: BYPASS_COOKIE, rate: rates.uncached, connections: 8 },
      ],
      WRK_S,
      dir,
    );
    const b = await sampler.take();
    const jobAfter = job ? await job() : undefined;
    const p = profile(a, b);
    const backup = coverage(jobBefore, jobAfter);
    for (const [k, r] of [
      ['cached', c],
      ['uncached', u],
    ] as const)
      say(
        `${label} ${k}: ${r?.rps} of ${r?.rate} req/s, p50 ${r?.p50ms} ms, p99 ${r?.p99ms} ms${jobAfter ? ` (backup: ${jobAfter.state}, ${jobAfter.message})` : ''}`,
      );
    const withP = (r: NonNullable<typeof c>) => ({ ...r, profile: p, ...(backup ? { backup } : {}) });
    return { cached: withP(c as NonNullable<typeof c>), uncached: withP(u as NonNullable<typeof u>) };
  };
  /** Both pages: one after the other at saturation (closed), or together at a fixed rate (open). */
  const measureBoth = async (label: string, job?: () => Promise<Job>) =>
    LOAD === 'open'
      ? measureOpen(label, job)
      : { cached: await measure(`${label} cached`, null, job), uncached: await measure(`${label} uncached`, BYPASS_COOKIE, job) };

  /**
   * `--ab`: windows with the lane stopped (A) and running (B) in ABBA order inside one phase of a
   * running backup; a window counts only if the backup stayed in that phase and running.
   */
  const measureAb = async (label: string, job: () => Promise<Job>, phase: 'database' | 'files'): Promise<AbPhase> => {
    cleanups.push(async () => {
      if (lanePaused) await pauseLane(false);
    });
    const windows: AbPhase['windows'] = [];
    try {
      for (let i = 0; i < AB_PAIRS; i++) {
        for (const paused of i % 2 === 0 ? [true, false] : [false, true]) {
          const stopped = await pauseLane(paused);
          await sleep(300);
          const m = await measureBoth(`${label} ${paused ? 'lane stopped' : 'lane running'} ${i + 1}`, job);
          windows.push({ paused, stoppedProcesses: paused ? stopped : 0, ...m });
        }
        // Whole pairs only; once the phase is over, the next phase gets the time.
        const now = await job();
        if (now.state !== 'running' || phaseOf(now.message) !== phase) {
          say(`${label}: the phase ended after ${i + 1} of ${AB_PAIRS} pairs`);
          break;
        }
      }
    } finally {
      if (lanePaused) await pauseLane(false);
    }
    const med = (xs: number[]) => {
      const v = [...xs].sort((a, b) => a - b);
      const m = Math.floor(v.length / 2);
      return v.length % 2 ? (v[m] as number) : ((v[m - 1] as number) + (v[m] as number)) / 2;
    };
    const summary = {} as AbPhase['summary'];
    for (const page of ['cached', 'uncached'] as const) {
      const ok = windows.filter((w) => w[page].backup?.covered !== false);
      const p99 = (paused: boolean) => med(ok.filter((w) => w.paused === paused).map((w) => w[page].p99ms));
      const rps = (paused: boolean) => med(ok.filter((w) => w.paused === paused).map((w) => w[page].rps));
      const mean = (paused: boolean) => {
        const v = ok.filter((w) => w.paused === paused).map((w) => w[page].p99ms);
        return Math.round((v.reduce((a, b) => a + b, 0) / v.length) * 100) / 100;
      };
      summary[page] = {
        windows: ok.length,
        p99Stopped: p99(true),
        p99Running: p99(false),
        meanRatio: Math.round((mean(false) / mean(true)) * 100) / 100,
        p99sStopped: ok.filter((w) => w.paused).map((w) => w[page].p99ms),
        p99sRunning: ok.filter((w) => !w.paused).map((w) => w[page].p99ms),
        ratio: Math.round((p99(false) / p99(true)) * 100) / 100,
        rpsStopped: rps(true),
        rpsRunning: rps(false),
      };
      const hists = (paused: boolean) => ok.filter((w) => w.paused === paused).map((w) => w[page].hist ?? []);
      if (hists(true).some((h) => h.length) && hists(false).some((h) => h.length)) {
        const a = pooledQuantile(hists(true), 0.99);
        const b = pooledQuantile(hists(false), 0.99);
        summary[page].pooled = {
          p99Stopped: a.ms,
          p99Running: b.ms,
          nStopped: a.n,
          nRunning: b.n,
          ratio: Math.round((b.ms / a.ms) * 100) / 100,
        };
        say(
          `${label} ${page}: pooled p99 lane stopped ${a.ms} ms (${a.n} requests), running ${b.ms} ms (${b.n}) → ${summary[page].pooled?.ratio}×`,
        );
      }
      say(`${label} ${page}: median p99 lane stopped ${p99(true)} ms, running ${p99(false)} ms → ${summary[page].ratio}×`);
    }
    return { windows, summary };
  };

  // Warm-up (not recorded): TLS sessions, the edge workers' caches and JIT, PHP's opcache.
  const capCached = await wrkFor(edgePort, null, Math.min(5, WRK_S));
  const capUncached = await wrkFor(edgePort, BYPASS_COOKIE, Math.min(5, WRK_S));
  if (LOAD === 'open') {
    // Both streams run at once, so each gets its fraction of what it did alone.
    rates.cached = Math.max(1, Math.round(capCached.rps * RATE_FRACTION));
    rates.uncached = Math.max(1, Math.round(capUncached.rps * RATE_FRACTION * 10) / 10);
    say(
      `open loop: cached ${rates.cached} req/s, uncached ${rates.uncached} req/s (${RATE_FRACTION} of the warm-up's wrk capacity)`,
    );
    out.openLoopRates = { ...rates, fraction: RATE_FRACTION, capacity: { cached: capCached.rps, uncached: capUncached.rps } };
  }

  // Idle.
  const idleProfileA = await sampler.take();
  await sleep(5000);
  out.idleBackground = profile(idleProfileA, await sampler.take());
  const idle = await measureBoth('idle');

  if (opt.experiments) {
    // Which part of a backup hurts? Each piece alone, in the same low-priority lane the agent
    // uses (spawnLowPriority: nice 19, idle IO, cpu.idle cgroup), while the cached page is measured.
    const xrepo = join(dir, 'xrepo');
    const pw = join(dir, 'xrepo.pw');
    await writeFile(pw, 'bench-only-password\n', { mode: 0o600 });
    const renv = { RESTIC_REPOSITORY: xrepo, RESTIC_PASSWORD_FILE: pw };
    const init = spawnLowPriority('restic', ['init'], { env: renv, stdio: 'ignore' });
    await new Promise((r) => init.on('exit', r));
    const dump = `podman exec ${POD}-db mariadb-dump --single-transaction --quick --hex-blob wordpress`;
    const pieces: [string, string][] = [
      ['nothing (noise floor)', 'sleep 3600'],
      ['cpu spinner (control)', 'while :; do :; done'],
      ['mariadb-dump > /dev/null', `${dump} > /dev/null`],
      ['mariadb-dump | restic (no node hop)', `${dump} | restic backup --stdin --stdin-filename db.sql -q`],
      [
        'mariadb-dump | restic --limit-upload 8192',
        `${dump} | restic backup --limit-upload 8192 --stdin --stdin-filename db2.sql -q`,
      ],
      ['restic backup of the uploads', `restic backup -q ${uploads}`],
      ['restic backup --limit-upload 8192 of the uploads', `restic backup --limit-upload 8192 -q --tag b ${uploads}`],
      ['cat uploads > /dev/null (page cache only)', `find ${uploads} -type f -exec cat {} + > /dev/null`],
      ['nothing again', 'sleep 3600'],
    ];
    const results: Record<string, unknown> = {};
    for (const [name, cmd] of pieces) {
      await run('sh', ['-c', 'sync; echo 3 > /proc/sys/vm/drop_caches']);
      const child = spawnLowPriority('sh', ['-c', cmd], { env: renv, stdio: 'ignore' });
      await sleep(1500);
      const r = await measure(`experiment: ${name}`, null);
      const stillRunning = child.exitCode === null;
      child.killTree('SIGKILL');
      await new Promise((res) => (child.exitCode === null ? child.on('exit', res) : res(null)));
      results[name] = { ...r, stillRunningAtEnd: stillRunning };
    }
    out.experiments = results;
    out.idle = idle;
    if (opt.experiments === 'only') return out;
  }

  // The first (full) backup, with wrk running while it dumps the database and reads the files.
  const repo = join(dir, 'agent', 'backup', 'repo');
  const runBackup = async (label: string, underLoad: boolean) => {
    const queued = JSON.parse(await cli(['backup', 'create', SITE, '--no-wait', '--json'])) as Job;
    const getJob = () => apiGet<Job>(`/jobs/${queued.id}`);
    const timeline: { s: number; state: string; progress: number; message: string }[] = [];
    const t0 = Date.now();
    let polling = true;
    const poller = (async () => {
      let last = '';
      while (polling) {
        const j = await getJob().catch(() => undefined);
        if (j) {
          const key = `${j.state} ${j.message}`;
          if (key !== last)
            timeline.push({ s: (Date.now() - t0) / 1000, state: j.state, progress: j.progress, message: j.message });
          last = key;
          if (['succeeded', 'failed', 'cancelled'].includes(j.state)) break;
        }
        await sleep(200);
      }
    })();
    // Under load: a cached and an uncached wrk run while it dumps the database (mariadb-dump →
    // restic stdin), and again once it reads the files (restic over the uploads volume).
    const load: Partial<Record<'database' | 'files', LoadedPhase | { skipped: string }>> = {};
    const ab: Partial<Record<'database' | 'files', AbPhase>> = {};
    if (underLoad) {
      for (const ph of ['database', 'files'] as const) {
        const j = await waitUntil(`${label}: the ${ph} phase`, 1_800_000, async () => {
          const x = await getJob();
          if (TERMINAL.includes(x.state)) return x;
          const now = phaseOf(x.message);
          return now === ph || (ph === 'database' && now === 'files') ? x : undefined;
        });
        if (j.state !== 'running' || phaseOf(j.message) !== ph) {
          load[ph] = { skipped: `the backup was ${j.state} (${j.message}) when this phase's wrk runs were due` };
          say(`WARNING: ${label}: no wrk run during the ${ph} phase (${j.state}, ${j.message})`);
          continue;
        }
        const startedAtS = (Date.now() - t0) / 1000;
        if (AB_PAIRS > 0) {
          ab[ph] = await measureAb(`${label} ${ph}`, getJob, ph);
          continue;
        }
        const { cached, uncached } = await measureBoth(`${label} ${ph}`, getJob);
        load[ph] = { wrkStartedAtS: startedAtS, wrkEndedAtS: (Date.now() - t0) / 1000, cached, uncached };
      }
    }
    const final = await waitUntil(`${label} finished`, 3_600_000, async () => {
      const j = await getJob();
      return TERMINAL.includes(j.state) ? j : undefined;
    });
    polling = false;
    await poller;
    if (final.state !== 'succeeded') throw new Error(`${label}: ${final.state}: ${JSON.stringify(final)}`);
    const durationS = (Date.parse(final.finishedAt ?? '') - Date.parse(final.startedAt ?? '')) / 1000;
    const b = await apiGet<{
      dbBytes: number;
      filesBytes: number;
      addedBytes: number;
      dbSnapshotId: string;
      filesSnapshotId: string;
    }>(`/backups/${final.params.backupId}`);
    say(`${label}: ${durationS} s, added ${MB(b.addedBytes)} MB`);
    return { jobId: final.id, durationS, repoBytes: await duBytes(repo), snapshot: b, timeline, load, ab };
  };
  const first = await runBackup('backup 1', true);
  const loadedRuns = Object.values(first.load).flatMap((x) => ('skipped' in x ? [] : [x.cached, x.uncached]));
  const outlasted = loadedRuns.length === 4 && loadedRuns.every((r) => r.backup?.covered);
  if (!outlasted && AB_PAIRS === 0)
    say('WARNING: not every loaded wrk run fell inside one backup phase: use a larger dataset or a shorter --wrk-seconds');
  const idleAfter = await measureBoth('idle-after');

  // A few changes, then the second (incremental) backup, idle.
  const changed = await writeUploads(join(uploads, '2026', '11'), 8e6, { uid: owner.uid, gid: owner.gid }, 'new');
  const old = files.paths.slice(0, 5);
  for (const f of old.slice(0, 3))
    await writeFile(f, await new Promise<Buffer>((r) => randomFill(Buffer.allocUnsafe(300_000), (_e, b) => r(b))));
  for (const f of old.slice(3)) await unlink(f);
  const maxId = Number(await sql('SELECT MAX(ID)+1 FROM wp_posts;'));
  await sql(
    `INSERT INTO wp_posts (ID,post_author,post_date,post_date_gmt,post_content,post_title,post_excerpt,post_status,post_name,to_ping,pinged,post_modified,post_modified_gmt,post_content_filtered,guid,post_type) VALUES ${[0, 1, 2, 3, 4].map((i) => postRow(maxId + i)).join(',')};
     INSERT INTO wp_bench_activity_log (created_at,user_id,object_type,object_id,action,ip,user_agent,payload) VALUES ${Array.from({ length: 200 }, activityRow).join(',')};
     UPDATE wp_bench_activity_log SET action = 'edited' WHERE id % 1000 = 7;`,
  );
  const second = await runBackup('backup 2', false);

  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  const phases = Object.entries(first.load).flatMap(([k, v]) => ('skipped' in v ? [] : [[k, v] as const]));
  const ratios: Record<string, number> = {};
  for (const [k, v] of phases) {
    ratios[`cached.${k}`] = ratio(v.cached.p99ms, idle.cached.p99ms);
    ratios[`uncached.${k}`] = ratio(v.uncached.p99ms, idle.uncached.p99ms);
    ratios[`cached.${k}.vsIdleAfter`] = ratio(v.cached.p99ms, idleAfter.cached.p99ms);
    ratios[`uncached.${k}.vsIdleAfter`] = ratio(v.uncached.p99ms, idleAfter.uncached.p99ms);
  }
  // --ab: the phases' ratios are lane running ÷ lane stopped from the same phase: the p99 of the
  // windows' requests pooled when the load is paced (a window's own p99 is nearly its maximum),
  // else the median of the windows' p99s.
  for (const [k, a] of Object.entries(first.ab)) {
    ratios[`cached.${k}`] = a.summary.cached.pooled?.ratio ?? a.summary.cached.ratio;
    ratios[`uncached.${k}`] = a.summary.uncached.pooled?.ratio ?? a.summary.uncached.ratio;
  }
  const worst = (page: 'cached' | 'uncached') => {
    const v = Object.entries(ratios).filter(([k]) => k.startsWith(`${page}.`) && !k.endsWith('.vsIdleAfter'));
    return v.length ? Math.max(...v.map(([, x]) => x)) : null;
  };
  out.idle = idle;
  out.backup1 = first;
  out.idleAfter = idleAfter;
  out.changes = { newFiles: changed.files, newBytes: changed.bytes, rewrittenFiles: 3, deletedFiles: 2, posts: 5, logRows: 200 };
  out.backup2 = { ...second, repoGrowthBytes: second.repoBytes - first.repoBytes };
  out.backupOutlastedWrk = outlasted;
  if (AB_PAIRS > 0) out.abPairs = AB_PAIRS;
  out.ratios = {
    ...ratios,
    worstCachedP99: worst('cached'),
    worstUncachedP99: worst('uncached'),
    targets: { cached: 1.15, uncached: 1.3 },
  };
  return out;
}

function markdown(o: Record<string, any>): string {
  const row = (page: string, phase: string, r: (WrkResult & { profile: any }) | undefined) =>
    r
      ? `| ${page} | ${phase} | ${r.rps.toFixed(1)} | ${r.p50ms} | ${r.p99ms} | ${r.non2xx} | ${r.profile.hostCpuPct.nice} | ${r.profile.hostCpuPct.iowait} | ${r.profile.coresUsed.db ?? '-'} | ${r.profile.coresUsed.php ?? '-'} | ${r.profile.coresUsed.edge} | ${r.profile.diskMBps.read}/${r.profile.diskMBps.write} |`
      : `| ${page} | ${phase} | – (not measured) ||||||||||`;
  const rates = o.openLoopRates as { cached: number; uncached: number; fraction: number } | undefined;
  const l = [
    rates
      ? `Load: paced (wrk with exponential think time), about cached ${rates.cached} req/s + uncached ${rates.uncached} req/s at once (${rates.fraction} of idle capacity).`
      : 'Load: closed loop (wrk at saturation), cached and uncached runs one after the other.',
    '',
    '| page | phase | req/s | p50 ms | p99 ms | non-2xx | host CPU nice % | iowait % | db cores | php cores | edge cores | disk MB/s r/w |',
    '| ---- | ----- | ----: | -----: | -----: | ------: | --------------: | -------: | -------: | --------: | ---------: | ------------: |',
  ];
  for (const [page, key] of [
    ['cached (HIT)', 'cached'],
    ['uncached (PHP)', 'uncached'],
  ] as const) {
    l.push(row(page, 'idle', o.idle[key]));
    if (!o.abPairs) {
      l.push(row(page, 'backup 1: database dump', o.backup1.load.database?.[key]));
      l.push(row(page, 'backup 1: files', o.backup1.load.files?.[key]));
    }
    l.push(row(page, 'idle after', o.idleAfter[key]));
  }
  const b1 = o.backup1;
  const b2 = o.backup2;
  const ab = Object.entries((b1.ab ?? {}) as Record<string, AbPhase>);
  if (ab.length) {
    l.push(
      '',
      `Lane stopped vs running, ABBA windows inside one phase of backup 1 (median of each kind; ${o.abPairs} pairs):`,
      '',
      '| page | phase | windows | p99 lane stopped ms (median; each) | p99 lane running ms (median; each) | running ÷ stopped (medians) | ÷ (means) | pooled p99 ms stopped → running (requests) | ÷ (pooled) | req/s stopped | req/s running |',
      '| ---- | ----- | ------: | ---------------------------------: | ---------------------------------: | --------------------------: | --------: | -----------------------------------------: | ---------: | ------------: | ------------: |',
    );
    for (const page of ['cached', 'uncached'] as const)
      for (const [ph, a] of ab) {
        const x = a.summary[page];
        const pl = x.pooled;
        l.push(
          `| ${page} | ${ph} | ${x.windows} | ${x.p99Stopped}; ${x.p99sStopped.join(', ')} | ${x.p99Running}; ${x.p99sRunning.join(', ')} | ${pl ? x.ratio : `**${x.ratio}**`} | ${x.meanRatio} | ${pl ? `${pl.p99Stopped} → ${pl.p99Running} (${pl.nStopped}, ${pl.nRunning})` : '–'} | ${pl ? `**${pl.ratio}**` : '–'} | ${x.rpsStopped.toFixed(1)} | ${x.rpsRunning.toFixed(1)} |`,
        );
      }
  }
  l.push(
    '',
    `p99 during ÷ idle (worst phase): cached ${o.ratios.worstCachedP99} (target ≤ 1.15), uncached ${o.ratios.worstUncachedP99} (target ≤ 1.3); all: ${JSON.stringify(o.ratios)}`,
    `backup 1 (full): ${b1.durationS} s, repository ${MB(b1.repoBytes)} MB (db dump ${MB(b1.snapshot.dbBytes)} MB, files ${MB(b1.snapshot.filesBytes)} MB, added ${MB(b1.snapshot.addedBytes)} MB); every loaded wrk run inside one phase of the running backup: ${o.backupOutlastedWrk}`,
    `backup 2 (incremental): ${b2.durationS} s, repository +${MB(b2.repoGrowthBytes)} MB (db dump ${MB(b2.snapshot.dbBytes)} MB, files ${MB(b2.snapshot.filesBytes)} MB, added ${MB(b2.snapshot.addedBytes)} MB)`,
  );
  return l.join('\n');
}

let code = 0;
try {
  const o = await main();
  const json = `${JSON.stringify(o, null, 2)}\n`;
  if (opt.out) await writeFile(opt.out, json);
  process.stdout.write(json);
  if (o.backup1) process.stdout.write(`\n${markdown(o)}\n`);
  const idleC = (o.idle as { cached?: WrkResult } | undefined)?.cached;
  for (const [name, r] of Object.entries((o.experiments ?? {}) as Record<string, WrkResult & { stillRunningAtEnd: boolean }>))
    process.stdout.write(
      `experiment ${name}: ${r.rps} req/s, p50 ${r.p50ms} ms, p99 ${r.p99ms} ms (÷ idle ${idleC ? (r.p99ms / idleC.p99ms).toFixed(2) : '?'}; piece still running at the end: ${r.stillRunningAtEnd})\n`,
    );
} catch (e) {
  say(`FAILED: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  code = 1;
  failed = true;
} finally {
  await cleanup();
}
process.exit(code);
