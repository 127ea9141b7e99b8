/**
 * CRS conformance against a running HTTP front end (the Triplane edge): replays the ftw YAML
 * tests over raw sockets — the request bytes exactly as the corpus builds them — and judges them
 * like ../shared/tools/crs-ftw/ftw-runner.js from the status and the WAF log file.
 *
 * Log correlation: each stage is followed by a marker request (`X-CRS-Test: <uuid>`, rule 999999
 * of the CI profile); once the marker's line is in the log, every line of the stage has been
 * written (one append stream per file). The stage's lines are those carrying its request's
 * `[unique_id "…"]`, which the edge returns as `X-Request-Id` — the same lines crs-ftw takes
 * "between two markers", but several connections can run at once. A request the edge refuses
 * before the WAF (its HTTP parser's 400) has no id and no lines, as with nginx.
 *
 * Example:
 *   const rep = await runEdgeConformance({ port: edge.address.port, logFile, testsDir, concurrency: 4 });
 *   console.log(formatReport(rep));
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import YAML from 'yaml';
import { buildFtwRequest, type FtwInput } from './ftw-request.ts';
import type { ConformanceReport, FileSummary, StageOutput, TestResult } from './runner.ts';

export interface EdgeRunOptions {
  host?: string;
  port: number;
  /** The site's WAF `log` file. */
  logFile: string;
  testsDir: string;
  /** Parallel connections (each runs whole tests, stage by stage). */
  concurrency?: number;
  /** Only tests whose title or YAML file name starts with this. */
  only?: string;
  /** Seconds to wait for a response (ftw's default is 5 s). */
  timeoutS?: number;
}

interface Exchange {
  status?: number;
  error?: string;
  requestId?: string;
}

function walk(d: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (p.endsWith('.yaml') || p.endsWith('.yml')) out.push(p);
  }
  return out;
}

/** Like ftw-runner.js: a response is complete by Content-Length, by the last chunk, or when the server closes. */
function responseComplete(buf: Buffer): boolean {
  const s = buf.toString('latin1');
  const he = s.indexOf('\r\n\r\n');
  if (he < 0) return false;
  const head = s.slice(0, he).toLowerCase();
  const body = s.slice(he + 4);
  const m = /\r\ncontent-length:\s*(\d+)/.exec(head);
  if (m) return body.length >= Number(m[1]);
  if (/\r\ntransfer-encoding:\s*chunked/.test(head)) return /(^|\r\n)0\r\n\r\n$/.test(body);
  return /^http\/1\.1 (1\d\d|204|304)/.test(head);
}

function parseResponse(buf: Buffer): Exchange {
  const s = buf.toString('latin1');
  const lines = s.split('\r\n');
  const parts = (lines[0] ?? '').split(' ');
  if (parts.length < 3 || !/^\s*[+-]?\d+\s*$/.test(parts[1]!)) return { error: `bad status line: ${lines[0]}` };
  const out: Exchange = { status: Number.parseInt(parts[1]!, 10) };
  for (let i = 1; i < lines.length && lines[i] !== ''; i++) {
    const l = lines[i]!;
    if (!l.includes(':')) return { error: 'Did not receive a response with valid headers' };
    const m = /^x-request-id:\s*(\S+)/i.exec(l);
    if (m) out.requestId = m[1]!;
  }
  return out;
}

function exchange(host: string, port: number, bytes: Buffer, timeoutS: number): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    let idle: NodeJS.Timeout | undefined;
    let first: NodeJS.Timeout | undefined;
    const sock = net.createConnection({ host, port });
    const finish = (err?: string) => {
      if (done) return;
      done = true;
      clearTimeout(idle);
      clearTimeout(first);
      sock.destroy();
      const buf = Buffer.concat(chunks);
      if (err) return resolve({ error: err });
      if (buf.length === 0) return resolve({ error: 'No response from server. Request likely timed out.' });
      resolve(parseResponse(buf));
    };
    sock.on('connect', () => {
      sock.write(bytes);
      first = setTimeout(
        () => finish(chunks.length ? undefined : `No response from server within ${timeoutS}s`),
        timeoutS * 1000,
      );
    });
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      clearTimeout(idle);
      if (responseComplete(Buffer.concat(chunks))) return finish();
      idle = setTimeout(() => finish(), 300);
    });
    sock.on('end', () => finish());
    sock.on('error', (e) => finish(chunks.length ? undefined : `socket error: ${e.message}`));
  });
}

/** Follows the log file; lines indexed by unique_id, marker uuids remembered. */
class LogTail {
  readonly #file: string;
  #offset: number;
  #pending = '';
  readonly byId = new Map<string, string[]>();
  readonly markers = new Set<string>();

  constructor(file: string) {
    this.#file = file;
    this.#offset = fs.existsSync(file) ? fs.statSync(file).size : 0;
  }

  poll(): void {
    let size: number;
    try {
      size = fs.statSync(this.#file).size;
    } catch {
      return;
    }
    if (size < this.#offset) this.#offset = 0;
    if (size === this.#offset) return;
    const fd = fs.openSync(this.#file, 'r');
    const buf = Buffer.alloc(size - this.#offset);
    fs.readSync(fd, buf, 0, buf.length, this.#offset);
    fs.closeSync(fd);
    this.#offset = size;
    const parts = (this.#pending + buf.toString('latin1')).split('\n');
    this.#pending = parts.pop() ?? '';
    for (const l of parts) {
      const id = /\[unique_id "([^"]+)"\]/.exec(l)?.[1];
      if (id) {
        const list = this.byId.get(id);
        if (list) list.push(l);
        else this.byId.set(id, [l]);
      }
      if (l.includes('X-CRS-Test')) {
        const m = /\[msg "([0-9a-f-]{36}-end)"\]/.exec(l);
        if (m) this.markers.add(m[1]!);
      }
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function marker(uuid: string): Buffer {
  return Buffer.from(`GET / HTTP/1.0\r\nHost: localhost\r\nUser-Agent: CRS\r\nAccept: */*\r\nX-CRS-Test: ${uuid}\r\n\r\n`);
}

interface Job {
  ruleFile: string;
  yaml: string;
  title: string;
  stages: Array<{ input: FtwInput; output: StageOutput }>;
}

export async function runEdgeConformance(o: EdgeRunOptions): Promise<ConformanceReport> {
  const host = o.host ?? '127.0.0.1';
  const timeoutS = o.timeoutS ?? 5;
  const tail = new LogTail(o.logFile);
  const results: TestResult[] = [];
  const jobs: Array<{ job: Job; rec: TestResult }> = [];
  for (const f of walk(o.testsDir)) {
    const doc = YAML.parse(fs.readFileSync(f, 'utf8')) as { meta?: { enabled?: boolean }; tests?: unknown[] };
    const ruleFile = path.basename(path.dirname(f));
    const yamlName = path.basename(f);
    for (const t of (doc.tests ?? []) as Array<{
      test_title: unknown;
      stages?: Array<{ stage: { input?: FtwInput; output?: StageOutput } }>;
    }>) {
      const title = String(t.test_title);
      if (o.only && !title.startsWith(o.only) && !yamlName.startsWith(o.only)) continue;
      const rec: TestResult = { ruleFile, yaml: yamlName, title, result: 'pass', reasons: [], ids: [] };
      results.push(rec);
      if (doc.meta?.enabled === false) {
        rec.result = 'skipped';
        rec.reasons.push('meta.enabled=false');
        continue;
      }
      const stages = (t.stages ?? []).map((s) => ({ input: s.stage.input ?? {}, output: s.stage.output ?? {} }));
      jobs.push({ job: { ruleFile, yaml: yamlName, title, stages }, rec });
    }
  }

  /** Sends the end marker and waits until its line is in the log (every earlier line is then written). */
  const flushed = async (): Promise<void> => {
    const uuid = `${randomUUID()}-end`;
    for (let attempt = 0; attempt < 5; attempt++) {
      await exchange(host, o.port, marker(uuid), timeoutS);
      for (let w = 0; w < 100; w++) {
        tail.poll();
        if (tail.markers.has(uuid)) {
          tail.markers.delete(uuid);
          return;
        }
        await sleep(w < 10 ? 2 : 20);
      }
    }
    throw new Error(`marker ${uuid} never appeared in ${o.logFile} (is rule 999999 loaded and the log configured?)`);
  };

  const runJob = async ({ job, rec }: { job: Job; rec: TestResult }): Promise<void> => {
    for (const { input, output } of job.stages) {
      let bytes: Buffer;
      try {
        bytes = buildFtwRequest(input);
      } catch (e) {
        rec.result = 'fail';
        rec.reasons.push(`build error: ${(e as Error).message}`);
        return;
      }
      const needLog = output.log_contains != null || output.no_log_contains != null;
      const resp = await exchange(host, o.port, bytes, timeoutS);
      if (resp.status !== undefined) rec.status = resp.status;
      let lines: string[] = [];
      if (needLog) {
        await flushed();
        lines = resp.requestId ? (tail.byId.get(resp.requestId) ?? []) : [];
      }
      if (resp.requestId) tail.byId.delete(resp.requestId);
      rec.ids = [...new Set(lines.map((l) => /\[id "(\d+)"\]/.exec(l)?.[1]).filter((x): x is string => x !== undefined))];
      if (output.expect_error) {
        if (!resp.error) {
          rec.result = 'fail';
          rec.reasons.push(`expected error, got status ${resp.status}`);
        }
        continue;
      }
      if (resp.error) {
        rec.result = 'fail';
        rec.reasons.push(`request error: ${resp.error}`);
        continue;
      }
      if (output.log_contains != null && !lines.some((l) => new RegExp(String(output.log_contains)).test(l))) {
        rec.result = 'fail';
        rec.reasons.push(`log_contains ${output.log_contains}`);
      }
      if (output.no_log_contains != null && lines.some((l) => new RegExp(String(output.no_log_contains)).test(l))) {
        rec.result = 'fail';
        rec.reasons.push(`no_log_contains ${output.no_log_contains}`);
      }
      const want = output.status;
      if (want != null && !(Array.isArray(want) && want.length === 0)) {
        const ok = Array.isArray(want) ? want.includes(resp.status ?? -1) : Number(want) === resp.status;
        if (!ok) {
          rec.result = 'fail';
          rec.reasons.push(`status ${resp.status} not in ${JSON.stringify(want)}`);
        }
      }
    }
  };

  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const j = jobs[next++]!;
      await runJob(j);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 4) }, worker));

  const perFile = new Map<string, FileSummary>();
  const total: FileSummary = { pass: 0, fail: 0, skipped: 0 };
  for (const r of results) {
    const s = perFile.get(r.ruleFile) ?? { pass: 0, fail: 0, skipped: 0 };
    s[r.result]++;
    total[r.result]++;
    perFile.set(r.ruleFile, s);
  }
  return { results, perFile, total };
}

/**
 * The CRS test profiles with their placeholders substituted (PROFILE_DIR, LOG_DIR, RUN_DIR), copied
 * to `outDir`; returns the path of `<profile>.conf` there, ready for the edge's `waf.rules`.
 */
export function materializeProfile(profileDir: string, profile: string, outDir: string): string {
  fs.mkdirSync(outDir, { recursive: true });
  for (const f of fs.readdirSync(profileDir)) {
    if (!f.endsWith('.conf')) continue;
    const text = fs
      .readFileSync(path.join(profileDir, f), 'latin1')
      .replaceAll('PROFILE_DIR', outDir)
      .replaceAll('LOG_DIR', outDir)
      .replaceAll('RUN_DIR', outDir);
    fs.writeFileSync(path.join(outDir, f), text, 'latin1');
  }
  return path.join(outDir, `${profile}.conf`);
}
