/**
 * Benchmark: GET /api/v1/sites with 1,000 sites on SQLite.
 *
 *   node bench/api-sites/run.ts [--sites 1000] [--duration 10] [--connections 10]
 *                               [--server cli|app] [--write] [--json]
 *
 * 1. `triplane init` a fresh data dir (SQLite), then insert N sites — each with production
 *    and staging environments and two domains — straight through the store.
 * 2. Start the control plane: `triplane control --workers 0` (default, the real command) or
 *    `--server app` (buildApp + listen in a child process), on 127.0.0.1.
 * 3. From this process, with autocannon: the anchor GET /healthz (same server process: the
 *    cost of Fastify + the hooks with no auth and no store), GET /api/v1/sites?limit=100 and
 *    ?limit=500 as the owner; then the full-list walk (limit=500 pages following nextCursor)
 *    sequentially for the same duration. Prints p50/p99 and req/s, and the ratio to the
 *    anchor. `--write` records the numbers in bench/RESULTS.md.
 * Exits non-zero if any request failed or the list is incomplete.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openStore } from '@triplane/control/store/store';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { seedSites } from './seed.ts';

const root = new URL('../../', import.meta.url).pathname;
const { values: args } = parseArgs({
  options: {
    sites: { type: 'string', default: '1000' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
    server: { type: 'string', default: 'cli' },
    write: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const SITES = Number(args.sites);
const DURATION = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const log = (s: string) => {
  if (!args.json) process.stdout.write(`${s}\n`);
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

async function waitReady(url: string, proc: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`the server exited with ${proc.exitCode}`);
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error('the server did not become ready in 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startServer(dataDir: string): Promise<{ url: string; proc: ChildProcess }> {
  if (args.server === 'app') {
    const proc = spawn(process.execPath, [join(root, 'bench/api-sites/server.ts'), dataDir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      let buf = '';
      proc.stdout?.on('data', (d) => {
        buf += d;
        const line = buf.split('\n')[0];
        if (buf.includes('\n') && line) resolve(JSON.parse(line).url);
      });
      proc.once('exit', (c) => reject(new Error(`server exited with ${c}`)));
    });
    await waitReady(url, proc);
    return { url, proc };
  }
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    [
      join(root, 'apps/triplane/src/main.ts'),
      'control',
      '--data-dir',
      dataDir,
      '--listen',
      `127.0.0.1:${port}`,
      '--workers',
      '0',
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, TRIPLANE_LOG_LEVEL: process.env.TRIPLANE_LOG_LEVEL ?? 'warn' },
    },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url, proc);
  return { url, proc };
}

interface Row {
  name: string;
  path: string;
  /** autocannon, CONNECTIONS concurrent keep-alive connections (1 ms resolution) */
  p50: number;
  p99: number;
  rps: number;
  requests: number;
  failed: number;
  /** one client, sequential requests, timed with performance.now() (sub-ms) */
  soloP50: number;
  soloP99: number;
}

/** Unloaded latency: one client, one request at a time, for a third of the duration. */
async function solo(url: string, path: string, headers: Record<string, string>): Promise<number[]> {
  const out: number[] = [];
  const until = performance.now() + (DURATION * 1000) / 3;
  while (performance.now() < until) {
    const t = performance.now();
    const r = await fetch(`${url}${path}`, { headers });
    await r.arrayBuffer();
    if (!r.ok) throw new Error(`${path} → ${r.status}`);
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

async function cannon(name: string, url: string, path: string, headers: Record<string, string>): Promise<Row> {
  // Warm up (JIT, SQLite page cache) without measuring.
  await autocannon({ url: `${url}${path}`, connections: CONNECTIONS, duration: 2, headers });
  const lat = await solo(url, path, headers);
  const r = await autocannon({ url: `${url}${path}`, connections: CONNECTIONS, duration: DURATION, headers });
  return {
    soloP50: percentile(lat, 50),
    soloP99: percentile(lat, 99),
    name,
    path,
    p50: r.latency.p50,
    p99: r.latency.p99,
    rps: r.requests.average,
    requests: r.requests.total,
    failed: r.non2xx + r.errors + r.timeouts,
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)] as number;
}

async function walk(url: string, headers: Record<string, string>): Promise<{ ms: number; count: number; pages: number }> {
  const t0 = performance.now();
  let cursor: string | null = null;
  let count = 0;
  let pages = 0;
  do {
    const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const r = await fetch(`${url}/api/v1/sites?limit=500${q}`, { headers });
    if (!r.ok) throw new Error(`walk: GET /api/v1/sites → ${r.status} ${await r.text()}`);
    const body = (await r.json()) as { items: unknown[]; nextCursor: string | null };
    count += body.items.length;
    pages++;
    cursor = body.nextCursor;
  } while (cursor);
  return { ms: performance.now() - t0, count, pages };
}

const dataDir = mkdtempSync(join(tmpdir(), 'triplane-bench-'));
let server: { url: string; proc: ChildProcess } | undefined;
let exitCode = 0;
try {
  log(`# api-sites: ${SITES} sites on SQLite, ${CONNECTIONS} connections, ${DURATION} s per run, server: ${args.server}`);
  const init = spawnSync(process.execPath, [join(root, 'apps/triplane/src/main.ts'), 'init', '--data-dir', dataDir, '--json'], {
    encoding: 'utf8',
  });
  if (init.status !== 0) throw new Error(`triplane init failed: ${init.stderr}`);
  const { token, orgId } = JSON.parse(init.stdout) as { token: string; orgId: string };
  const store = openStore({ dataDir });
  const t0 = performance.now();
  await seedSites(store, orgId, SITES);
  if (process.env.BENCH_SITES_INDEX) {
    // Experiment: the keyset index the list query could use (not in the shipped schema).
    await sql`create index if not exists bench_sites_created_id on sites (created_at, id)`.execute(store.db);
    log('# experiment: added index sites(created_at, id)');
  }
  log(`# seeded ${SITES} sites (+${2 * SITES} environments, ${2 * SITES} domains) in ${Math.round(performance.now() - t0)} ms`);
  await store.close();

  server = await startServer(dataDir);
  const headers = { authorization: `Bearer ${token}` };
  const first = await walk(server.url, headers);
  if (first.count !== SITES) throw new Error(`the list walk saw ${first.count} sites, expected ${SITES}`);

  const rows: Row[] = [];
  rows.push(await cannon('anchor: GET /healthz', server.url, '/healthz', {}));
  rows.push(await cannon('GET /api/v1/sites?limit=100', server.url, '/api/v1/sites?limit=100', headers));
  rows.push(await cannon('GET /api/v1/sites?limit=500', server.url, '/api/v1/sites?limit=500', headers));

  const walks: number[] = [];
  const until = performance.now() + DURATION * 1000;
  let pages = 0;
  while (performance.now() < until) {
    const w = await walk(server.url, headers);
    if (w.count !== SITES) throw new Error(`walk saw ${w.count} sites`);
    walks.push(w.ms);
    pages = w.pages;
  }
  walks.sort((a, b) => a - b);
  const walkRow: Row = {
    name: `full walk (${pages} pages of ≤500, 1 client)`,
    path: '/api/v1/sites?limit=500&cursor=…',
    p50: percentile(walks, 50),
    p99: percentile(walks, 99),
    rps: walks.length / DURATION,
    requests: walks.length,
    failed: 0,
    soloP50: percentile(walks, 50),
    soloP99: percentile(walks, 99),
  };
  rows.push(walkRow);

  const anchor = rows[0] as Row;
  const fmt = (n: number) => (n < 1 ? n.toFixed(3) : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : Math.round(n).toString());
  // autocannon measures whole milliseconds: show a 0 as "<1".
  const fmtMs = (n: number) => (n === 0 ? '<1' : fmt(n));
  const table = [
    `| run | 1 client: p50 ms | p99 ms | ${CONNECTIONS} conns: p50 ms | p99 ms | req/s | p50 ÷ anchor | req/s ÷ anchor |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => {
      const walkRow = r.path.includes('cursor');
      return `| ${r.name} | ${fmt(r.soloP50)} | ${fmt(r.soloP99)} | ${walkRow ? '–' : fmtMs(r.p50)} | ${walkRow ? '–' : fmtMs(r.p99)} | ${fmt(r.rps)}${
        walkRow ? ' walks/s' : ''
      } | ${r === anchor ? '1' : fmt(r.soloP50 / anchor.soloP50)} | ${r === anchor || walkRow ? (r === anchor ? '1' : '–') : (r.rps / anchor.rps).toFixed(3)} |`;
    }),
  ].join('\n');
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}, Node ${process.version}`;
  log(table);
  log(`# machine: ${machine}`);
  for (const r of rows) if (r.failed) exitCode = 1;
  if (exitCode) log('# FAILED: some requests did not answer 2xx');
  if (args.json)
    process.stdout.write(`${JSON.stringify({ sites: SITES, connections: CONNECTIONS, duration: DURATION, rows, machine })}\n`);

  if (args.write) {
    const file = join(root, 'bench/RESULTS.md');
    const cmd = `node bench/api-sites/run.ts --sites ${SITES} --duration ${DURATION} --connections ${CONNECTIONS} --server ${args.server}`;
    const section = [
      '<!-- api-sites:begin -->',
      `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC with \`${cmd}\``,
      `on ${machine}.`,
      '',
      table,
      '<!-- api-sites:end -->',
    ].join('\n');
    let text = readFileSync(file, 'utf8');
    text = text.replace(/<!-- api-sites:begin -->[\s\S]*<!-- api-sites:end -->/, section);
    writeFileSync(file, text);
    // Keep `biome check .` clean: it formats markdown tables.
    spawnSync(join(root, 'node_modules/.bin/biome'), ['format', '--write', file], { stdio: 'ignore' });
    log(`# wrote ${file}`);
  }
} catch (e) {
  process.stderr.write(`bench failed: ${(e as Error).message}\n`);
  exitCode = 1;
} finally {
  if (server) {
    const exited = new Promise((r) => server?.proc.once('exit', r));
    server.proc.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  }
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(exitCode);
