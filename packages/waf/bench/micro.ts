/**
 * Micro-measurement of the engine's CPU cost per request (a script, not a test or a load test):
 * builds the two requests of ../shared/bench/waf-anchors/get.lua and post.lua (headers, method
 * and body read from those files), loads the CRS PL1 profile the anchor uses
 * (../shared/tools/crs-ftw/profiles/crs-pl1.conf), runs N transactions through all five phases
 * and prints µs/request (min and median of rounds), GC counts and bytes allocated per request.
 *
 *   node packages/waf/bench/micro.ts [--n 300] [--rounds 20] [--only get|post] [--profile FILE]
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof packages/waf/bench/micro.ts --only get --n 20000 --rounds 1
 *   node packages/waf/bench/micro.ts --baseline /tmp/old/packages/waf   # A/B against another checkout
 *   node packages/waf/bench/micro.ts --vary    # every argument value unique (suffix -N) per request
 *
 * The anchor requests repeat exactly, so whatever the engine remembers across transactions
 * (short values' literal scans, t:sha1 of the User-Agent) always hits; --vary makes each query
 * and body argument value new, the worst case for those memos (headers and names still repeat).
 *
 * With --baseline, a second engine is loaded from that package directory and the two run in
 * alternating rounds in this one process (same JIT, same machine load), min of rounds each:
 * on a shared box that is the only comparison worth reading.
 * The engine's results are checked too: a benign request must produce no match event.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import type { RequestInput } from '../src/engine/transaction.ts';
import { Waf } from '../src/engine/waf.ts';

const here = path.dirname(new URL(import.meta.url).pathname);
const shared = path.resolve(here, '../../../../shared');
const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '300' },
    rounds: { type: 'string', default: '20' },
    baseline: { type: 'string' },
    only: { type: 'string' },
    vary: { type: 'boolean', default: false },
    profile: { type: 'string', default: path.join(shared, 'tools/crs-ftw/profiles/crs-pl1.conf') },
    anchors: { type: 'string', default: path.join(shared, 'bench/waf-anchors') },
    // wrk takes the URL on its command line; the GET carries 5 query args
    'get-uri': { type: 'string', default: '/shop/products?category=shoes&color=blue&size=42&sort=price&page=2' },
    'post-uri': { type: 'string', default: '/checkout' },
  },
});

interface WrkScript {
  method: string;
  headers: Array<[string, string]>;
  body: string | undefined;
}

/** The subset of wrk's Lua the anchor scripts use: method, headers[...] and a [[long string]] body. */
function readWrkScript(file: string): WrkScript {
  const text = fs.readFileSync(file, 'latin1');
  const method = /wrk\.method\s*=\s*"([^"]+)"/.exec(text)?.[1] ?? 'GET';
  const headers: Array<[string, string]> = [];
  for (const m of text.matchAll(/wrk\.headers\["([^"]+)"\]\s*=\s*"([^"]*)"/g)) headers.push([m[1]!, m[2]!]);
  const body = /wrk\.body\s*=\s*\[\[([\s\S]*?)\]\]/.exec(text)?.[1];
  return { method, headers, body };
}

/** With --vary: every query and body argument value gets the suffix `-k` (k counts requests). */
let varied = 0;
const vary = (s: string, k: number) => s.replace(/=([^&]*)/g, `=$1-${k}`);

function request(script: WrkScript, uri: string, i: number): RequestInput {
  if (values.vary) {
    const k = ++varied;
    return requestOf({ ...script, body: script.body === undefined ? undefined : vary(script.body, k) }, vary(uri, k), i);
  }
  return requestOf(script, uri, i);
}

function requestOf(script: WrkScript, uri: string, i: number): RequestInput {
  const headers = script.headers.slice();
  // wrk adds Content-Length for a body
  if (script.body !== undefined) headers.push(['Content-Length', String(script.body.length)]);
  return {
    method: script.method,
    uri,
    protocol: 'HTTP/1.1',
    headers,
    ...(script.body !== undefined ? { body: script.body } : {}),
    remoteAddr: '127.0.0.1',
    remotePort: 40000 + (i % 20000),
    uniqueId: `bench-${i}`,
  };
}

const RESPONSE = {
  status: 200,
  protocol: 'HTTP/1.1',
  headers: [
    ['Content-Type', 'text/plain'],
    ['Content-Length', '3'],
  ] as Array<[string, string]>,
  body: 'ok\n',
};

function runOne(waf: Waf, req: RequestInput): number {
  const tx = waf.transaction(req);
  tx.processRequestHeaders();
  tx.processRequestBody();
  tx.processResponseHeaders(RESPONSE);
  tx.processResponseBody();
  tx.processLogging();
  return tx.events.length;
}

/** Bytes allocated on the V8 heap during fn: heap growth between GCs, summed. */
function measure(fn: () => void): { ms: number; cpuMs: number; gcs: number; scavenges: number; allocated: number } {
  const prof = new v8.GCProfiler();
  const heap0 = process.memoryUsage().heapUsed;
  prof.start();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const t1 = performance.now();
  const c1 = process.cpuUsage(c0);
  const heap1 = process.memoryUsage().heapUsed;
  const stats = prof.stop()?.statistics ?? [];
  let allocated = 0;
  let last = heap0;
  let scavenges = 0;
  for (const s of stats) {
    allocated += Math.max(0, s.beforeGC.heapStatistics.usedHeapSize - last);
    last = s.afterGC.heapStatistics.usedHeapSize;
    if (s.gcType === 'Scavenge' || s.gcType === 'MinorMarkSweep') scavenges++;
  }
  allocated += Math.max(0, heap1 - last);
  return { ms: t1 - t0, cpuMs: (c1.user + c1.system) / 1000, gcs: stats.length, scavenges, allocated };
}

const tmp = os.tmpdir();
const profileDir = path.dirname(values.profile);
const subst = (p: string) => p.replaceAll('PROFILE_DIR', profileDir).replaceAll('LOG_DIR', tmp).replaceAll('RUN_DIR', tmp);

interface Engine {
  label: string;
  waf: Waf;
}

async function load(label: string, pkgDir: string | undefined): Promise<Engine> {
  const t0 = performance.now();
  const W: typeof Waf = pkgDir === undefined ? Waf : (await import(path.resolve(pkgDir, 'src/engine/waf.ts'))).Waf;
  const waf = W.fromFile(values.profile, { rewritePath: subst });
  console.log(
    `${label}: ${path.basename(values.profile)}, ${waf.rules.ruleCount} rules compiled in ${(performance.now() - t0).toFixed(0)} ms`,
  );
  return { label, waf };
}

const engines = [await load('this tree', undefined)];
if (values.baseline !== undefined) engines.push(await load(`baseline ${values.baseline}`, values.baseline));

const n = Number(values.n);
const rounds = Number(values.rounds);
const cases: Array<[string, WrkScript, string]> = [
  ['GET', readWrkScript(path.join(values.anchors, 'get.lua')), values['get-uri']],
  ['POST', readWrkScript(path.join(values.anchors, 'post.lua')), values['post-uri']],
];
for (const [label, script, uri] of cases) {
  if (values.only !== undefined && values.only.toUpperCase() !== label) continue;
  const reqs = Array.from({ length: 64 }, (_, i) => request(script, uri, i));
  const per = engines.map(() => [] as number[]);
  const last: Array<ReturnType<typeof measure> | undefined> = engines.map(() => undefined);
  for (const [k, e] of engines.entries()) {
    const events = runOne(e.waf, reqs[0]!);
    if (events !== 0) throw new Error(`${label} (${e.label}): the benign request matched ${events} rule(s)`);
    // warm-up: let V8 optimize the hot paths before measuring
    for (let i = 0; i < Math.max(500, n); i++) runOne(e.waf, reqs[i % 64]!);
    last[k] = undefined;
  }
  for (let r = 0; r < rounds; r++)
    for (const [k, e] of engines.entries()) {
      const m = measure(() => {
        if (values.vary) for (let i = 0; i < n; i++) runOne(e.waf, request(script, uri, i));
        else for (let i = 0; i < n; i++) runOne(e.waf, reqs[i % 64]!);
      });
      per[k]!.push((m.cpuMs * 1000) / n);
      last[k] = m;
    }
  for (const [k, e] of engines.entries()) {
    const p = per[k]!.sort((a, b) => a - b);
    const m = last[k]!;
    console.log(
      `${label.padEnd(4)} ${uri}${script.body !== undefined ? ` (${script.body.length} B body)` : ''}${values.vary ? ' varied' : ''} [${e.label}]: ` +
        `CPU ${p[0]!.toFixed(1)} µs/req min, ${p[Math.floor(p.length / 2)]!.toFixed(1)} median of ${rounds}×${n}; ` +
        `last round: wall ${((m.ms * 1000) / n).toFixed(1)} µs/req, ${(m.allocated / n / 1024).toFixed(1)} KiB allocated/req, ` +
        `${m.gcs} GCs (${m.scavenges} scavenges)`,
    );
  }
}
