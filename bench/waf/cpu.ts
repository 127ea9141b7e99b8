/**
 * CPU time per request of the edge (issue 5), without and with CRS PL1 (a script, not a test).
 *
 * Throughput on this shared 2-core box swings with whatever else runs; the CPU time the edge's
 * processes spend per request does not (much). So this starts a return-200 origin (node:http, in
 * this process), `triplane edge --config … --workers 1` once per config (the configs of
 * bench/waf/run.sh: cache off, no WAF / `waf: { mode: block, paranoia: 1 }`), sends a fixed number
 * of keep-alive requests with autocannon (the GET and the 1 KB urlencoded POST of
 * ../shared/bench/waf-anchors/get.lua / post.lua, on run.sh's URL), and reads utime+stime of the
 * edge process from /proc/PID/stat before and after (after a warm-up). `--workers 1` serves in
 * the edge process itself (no cluster); were there a worker, the primary is shown apart.
 *
 *   node bench/waf/cpu.ts                         (10,000 requests per case after 2,000, 16 connections)
 *   node bench/waf/cpu.ts --n 10000 --only crs --req get
 *   node bench/waf/cpu.ts --prof /tmp/prof        (the edge runs with --cpu-prof: profiles on exit)
 *   node bench/waf/cpu.ts --baseline /tmp/base --rounds 5   (A/B against another checkout)
 *
 * CPU time still moves with the box's load (caches, hyperthreads): a before/after comparison is
 * only worth reading from one run with --baseline (a copy of the repository with node_modules
 * linked: its edge runs beside this tree's, in alternating rounds; min and median of rounds).
 *
 * Prints, per config and request: µs CPU per request of the serving process, user and system
 * parts (and a cluster primary's, if any), and the achieved req/s (informative only).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.resolve(here, '../..');
const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '10000' },
    warmup: { type: 'string', default: '2000' },
    connections: { type: 'string', default: '16' },
    only: { type: 'string' }, // plain | crs
    req: { type: 'string' }, // get | post
    prof: { type: 'string' }, // directory for --cpu-prof of the edge processes
    rounds: { type: 'string', default: '1' },
    'node-flags': { type: 'string', default: '' }, // extra flags for the edge's node, e.g. --max-semi-space-size=32
    'keep-output': { type: 'string' }, // write each edge's stdout/stderr to this directory
    baseline: { type: 'string' }, // another checkout: its edge runs in alternating rounds with this tree's
    anchors: { type: 'string', default: path.resolve(root, '../shared/bench/waf-anchors') },
  },
});
const N = Number(values.n);
const WARMUP = Number(values.warmup);
const CONNECTIONS = Number(values.connections);
const ROUNDS = Number(values.rounds);
const URL_PATH = '/search?q=running+shoes&page=2&sort=price&color=blue&size=42';
const CLK_TCK = 100; // USER_HZ on Linux

interface WrkScript {
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** The subset of wrk's Lua the anchor scripts use: method, headers[...] and a [[long string]] body. */
function readWrkScript(file: string): WrkScript {
  const text = fs.readFileSync(file, 'latin1');
  const method = /wrk\.method\s*=\s*"([^"]+)"/.exec(text)?.[1] ?? 'GET';
  const headers: Record<string, string> = {};
  for (const m of text.matchAll(/wrk\.headers\["([^"]+)"\]\s*=\s*"([^"]*)"/g)) headers[m[1]!] = m[2]!;
  const body = /wrk\.body\s*=\s*\[\[([\s\S]*?)\]\]/.exec(text)?.[1];
  return { method, headers, body };
}

/** utime and stime in clock ticks (fields 14 and 15 of /proc/PID/stat, after the parenthesised comm). */
function cpuTicks(pid: number): { user: number; sys: number } {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]), sys: Number(f[12]) };
}

function childPids(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const origin = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3' });
    res.end('ok\n');
  });
});
origin.keepAliveTimeout = 60_000;
await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
const originPort = (origin.address() as AddressInfo).port;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'waf-cpu-'));
const children: ChildProcess[] = [];
const stopAll = () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
};
process.on('exit', stopAll);

interface RunningEdge {
  label: string;
  child: ChildProcess;
  port: number;
  /** the process serving requests */
  worker: number;
}

/** `triplane edge` of the repository at `tree` (this one, or a --baseline copy). */
async function startEdge(label: string, tree: string, name: string, wafYaml: string): Promise<RunningEdge> {
  const id = `${name}-${label.replace(/[^a-z0-9]+/gi, '_')}`;
  const file = path.join(tmp, `${id}.yaml`);
  fs.writeFileSync(
    file,
    `listen: { http: "127.0.0.1:0" }
sites:
  - name: bench
    hosts: ["*"]
    upstreams: ["http://127.0.0.1:${originPort}"]
    cache: { profile: "off" }
${wafYaml}
`,
  );
  const flags = values.prof ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(values.prof, id)}`] : [];
  flags.push(...values['node-flags'].split(' ').filter(Boolean));
  const child = spawn(
    process.execPath,
    [
      '--disable-warning=ExperimentalWarning',
      ...flags,
      path.join(tree, 'apps/triplane/src/main.ts'),
      'edge',
      '--config',
      file,
      '--workers',
      '1',
    ],
    { env: { ...process.env, TRIPLANE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let out = '';
  const keep = values['keep-output'] === undefined ? undefined : path.resolve(values['keep-output'], `${id}.log`);
  if (keep) fs.mkdirSync(path.dirname(keep), { recursive: true });
  const collect = (c: Buffer) => {
    if (out.length < 1_000_000) out += c.toString();
    if (keep) fs.appendFileSync(keep, c);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const t0 = Date.now();
  while (!/edge: listening/.test(out)) {
    if (child.exitCode !== null || Date.now() - t0 > 60_000) throw new Error(`edge ${id} did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = /127\.0\.0\.1:(\d+)/.exec(out.slice(out.indexOf('edge: listening')));
  if (!m) throw new Error(`no port in: ${out}`);
  // `--workers 1` serves in the edge process itself; with a cluster, its one worker is the child
  const workers = childPids(child.pid!);
  if (workers.length > 1) throw new Error(`expected at most one worker, found ${workers.length}`);
  return { label, child, port: Number(m[1]), worker: workers[0] ?? child.pid! };
}

async function stopEdge(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

const scripts = {
  get: readWrkScript(path.join(values.anchors, 'get.lua')),
  post: readWrkScript(path.join(values.anchors, 'post.lua')),
};

async function load(port: number, s: WrkScript, amount: number) {
  const r = await autocannon({
    url: `http://127.0.0.1:${port}${URL_PATH}`,
    connections: CONNECTIONS,
    amount,
    method: s.method,
    headers: s.headers, // autocannon adds Content-Length for a body, as wrk does
    ...(s.body !== undefined ? { body: s.body } : {}),
  });
  if (r.non2xx > 0 || r.errors > 0 || r.timeouts > 0)
    throw new Error(`non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts}`);
  return r;
}

const configs: Array<[string, string]> = [
  ['plain', ''],
  ['crs', `    waf: { mode: block, paranoia: 1, log: "${path.join(tmp, 'waf.log')}" }`],
];
const trees: Array<[string, string]> = [['this tree', root]];
if (values.baseline !== undefined) trees.push([`baseline`, path.resolve(values.baseline)]);

interface Round {
  user: number;
  sys: number;
  primary: number;
  rps: number;
}

/** N requests; the serving process's (and a cluster primary's) CPU time per request. */
async function measure(edge: RunningEdge, s: WrkScript): Promise<Round> {
  const w0 = cpuTicks(edge.worker);
  const p0 = cpuTicks(edge.child.pid!);
  const t0 = performance.now();
  await load(edge.port, s, N);
  const secs = (performance.now() - t0) / 1000;
  const w1 = cpuTicks(edge.worker);
  const p1 = cpuTicks(edge.child.pid!);
  const us = (ticks: number) => ((ticks / CLK_TCK) * 1e6) / N;
  return {
    user: us(w1.user - w0.user),
    sys: us(w1.sys - w0.sys),
    primary: edge.worker === edge.child.pid ? 0 : us(p1.user + p1.sys - p0.user - p0.sys),
    rps: N / secs,
  };
}

console.log(
  `edge CPU per request: ${ROUNDS} round(s) of ${N} requests after ${WARMUP} warm-up, ${CONNECTIONS} keep-alive connections, ` +
    `Node ${process.version}, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
);
console.log(
  `${'config'.padEnd(6)} ${'req'.padEnd(4)} ${'tree'.padEnd(10)} ${'µs CPU/req min'.padStart(14)} ${'median'.padStart(7)} ` +
    `${'user'.padStart(6)} ${'sys'.padStart(6)} ${'primary'.padStart(7)} ${'req/s'.padStart(6)}`,
);
const f1 = (x: number, w: number) => x.toFixed(1).padStart(w);
try {
  for (const [name, waf] of configs) {
    if (values.only !== undefined && values.only !== name) continue;
    const edges: RunningEdge[] = [];
    for (const [label, tree] of trees) edges.push(await startEdge(label, tree, name, waf));
    for (const req of ['get', 'post'] as const) {
      if (values.req !== undefined && values.req !== req) continue;
      for (const e of edges) await load(e.port, scripts[req], WARMUP);
      // alternating rounds: both trees see the same machine load
      const rounds = edges.map(() => [] as Round[]);
      for (let r = 0; r < ROUNDS; r++) for (const [k, e] of edges.entries()) rounds[k]!.push(await measure(e, scripts[req]));
      const wafLog = path.join(tmp, 'waf.log');
      if (fs.existsSync(wafLog) && fs.statSync(wafLog).size > 0)
        console.log(`note: the WAF logged on benign requests:\n${fs.readFileSync(wafLog, 'utf8').slice(0, 2000)}`);
      for (const [k, e] of edges.entries()) {
        const rs = rounds[k]!.sort((a, b) => a.user + a.sys - (b.user + b.sys));
        const med = rs[Math.floor(rs.length / 2)]!;
        console.log(
          `${name.padEnd(6)} ${req.padEnd(4)} ${e.label.padEnd(10)} ${f1(rs[0]!.user + rs[0]!.sys, 14)} ${f1(med.user + med.sys, 7)} ` +
            `${f1(med.user, 6)} ${f1(med.sys, 6)} ${f1(med.primary, 7)} ${med.rps.toFixed(0).padStart(6)}`,
        );
      }
    }
    for (const e of edges) await stopEdge(e.child);
  }
} finally {
  stopAll();
  origin.close();
  origin.closeAllConnections();
  fs.rmSync(tmp, { recursive: true, force: true });
}
