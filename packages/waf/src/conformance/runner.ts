/**
 * Engine-level CRS conformance: replays the ftw YAML tests through the engine (no sockets) and
 * judges them like ../shared/tools/crs-ftw/ftw-runner.js: per stage, a marker request carrying
 * `X-CRS-Test: <uuid>-start`, the test request, then `<uuid>-end`; the log lines between the two
 * marker lines belong to the stage; log_contains / no_log_contains are regexes searched per line;
 * status is compared when given. Requests a server front end would refuse (bad request line…)
 * answer 400 without reaching the WAF, as nginx does in the anchor.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { Waf } from '../engine/waf.ts';
import { buildFtwRequest, type FtwInput } from './ftw-request.ts';
import { parseHttpRequest } from './http-parse.ts';

export interface StageOutput {
  status?: number | number[];
  log_contains?: string;
  no_log_contains?: string;
  expect_error?: boolean;
}

export interface TestResult {
  ruleFile: string;
  yaml: string;
  title: string;
  result: 'pass' | 'fail' | 'skipped';
  reasons: string[];
  status?: number;
  ids: string[];
}

export interface FileSummary {
  pass: number;
  fail: number;
  skipped: number;
}

export interface ConformanceReport {
  results: TestResult[];
  perFile: Map<string, FileSummary>;
  total: FileSummary;
}

const RESPONSE_BODY = '<html><body>ok</body></html>\n';

function walk(d: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (p.endsWith('.yaml') || p.endsWith('.yml')) out.push(p);
  }
  return out;
}

/** One HTTP exchange through the engine; returns the status the client would see. */
function exchange(waf: Waf, raw: Buffer, log: string[]): { status: number; error?: string } {
  const id = randomUUID();
  const parsed = parseHttpRequest(raw, '127.0.0.1', id);
  if (!parsed.ok) return parsed.status === 0 ? { status: 0, error: parsed.reason } : { status: parsed.status };
  const tx = waf.transaction(parsed.request, (line) => log.push(line));
  let iv = tx.processRequestHeaders() ?? tx.processRequestBody();
  if (!iv) {
    iv = tx.processResponseHeaders({
      status: 200,
      protocol: 'HTTP/1.1',
      headers: [
        ['Content-Type', 'text/html'],
        ['Content-Length', String(RESPONSE_BODY.length)],
      ],
      body: RESPONSE_BODY,
    });
    iv ??= tx.processResponseBody();
  }
  tx.processLogging();
  // after inspection the edge refuses to tunnel: CONNECT gets 405
  return { status: iv ? iv.status : parsed.request.method === 'CONNECT' ? 405 : 200 };
}

function marker(uuid: string): Buffer {
  return Buffer.from(`GET / HTTP/1.0\r\nHost: localhost\r\nUser-Agent: CRS\r\nAccept: */*\r\nX-CRS-Test: ${uuid}\r\n\r\n`);
}

function markerIndex(log: string[], uuid: string, from: number): number {
  for (let i = log.length - 1; i >= from; i--) if (log[i]!.includes(uuid) && log[i]!.includes('X-CRS-Test')) return i;
  throw new Error(`marker ${uuid} never appeared in the log (is rule 999999 loaded?)`);
}

export function runConformance(waf: Waf, testsDir: string, only?: string): ConformanceReport {
  const results: TestResult[] = [];
  const log: string[] = [];
  for (const f of walk(testsDir)) {
    const doc = YAML.parse(fs.readFileSync(f, 'utf8')) as { meta?: { enabled?: boolean }; tests?: unknown[] };
    const ruleFile = path.basename(path.dirname(f));
    const yamlName = path.basename(f);
    const enabled = doc.meta?.enabled !== false;
    for (const t of (doc.tests ?? []) as Array<{
      test_title: unknown;
      stages?: Array<{ stage: { input?: FtwInput; output?: StageOutput } }>;
    }>) {
      const title = String(t.test_title);
      if (only && !title.startsWith(only) && !yamlName.startsWith(only)) continue;
      const rec: TestResult = { ruleFile, yaml: yamlName, title, result: 'pass', reasons: [], ids: [] };
      if (!enabled) {
        rec.result = 'skipped';
        rec.reasons.push('meta.enabled=false');
        results.push(rec);
        continue;
      }
      for (const st of t.stages ?? []) {
        const input = st.stage.input ?? {};
        const output = st.stage.output ?? {};
        let bytes: Buffer;
        try {
          bytes = buildFtwRequest(input);
        } catch (e) {
          rec.result = 'fail';
          rec.reasons.push('build error: ' + (e as Error).message);
          break;
        }
        const uuid = randomUUID();
        log.length = 0;
        exchange(waf, marker(`${uuid}-start`), log);
        const start = markerIndex(log, `${uuid}-start`, 0);
        const resp = exchange(waf, bytes, log);
        const before = log.length;
        exchange(waf, marker(`${uuid}-end`), log);
        const end = markerIndex(log, `${uuid}-end`, before);
        const lines = log.slice(start + 1, end);
        rec.status = resp.status;
        rec.ids = [...new Set(lines.map((l) => /\[id "(\d+)"\]/.exec(l)?.[1]).filter((x): x is string => x !== undefined))];
        if (output.expect_error) {
          if (!resp.error) {
            rec.result = 'fail';
            rec.reasons.push(`expected error, got status ${resp.status}`);
          }
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
          const ok = Array.isArray(want) ? want.includes(resp.status) : Number(want) === resp.status;
          if (!ok) {
            rec.result = 'fail';
            rec.reasons.push(`status ${resp.status} not in ${JSON.stringify(want)}${resp.error ? ` (${resp.error})` : ''}`);
          }
        }
      }
      results.push(rec);
    }
  }
  const perFile = new Map<string, FileSummary>();
  const total: FileSummary = { pass: 0, fail: 0, skipped: 0 };
  for (const r of results) {
    const s = perFile.get(r.ruleFile) ?? { pass: 0, fail: 0, skipped: 0 };
    const k = r.result === 'skipped' ? 'skipped' : r.result;
    s[k]++;
    total[k]++;
    perFile.set(r.ruleFile, s);
  }
  return { results, perFile, total };
}

export function formatReport(rep: ConformanceReport): string {
  const rate = (s: FileSummary) => `${((100 * s.pass) / Math.max(1, s.pass + s.fail)).toFixed(1)}%`;
  let out = 'rule file'.padEnd(49) + ' pass  fail  skip  rate\n';
  const row = (k: string, s: FileSummary) =>
    k.padEnd(49) +
    String(s.pass).padStart(5) +
    String(s.fail).padStart(6) +
    String(s.skipped).padStart(6) +
    '  ' +
    rate(s) +
    '\n';
  for (const [k, s] of rep.perFile) out += row(k, s);
  out += row('TOTAL', rep.total);
  return out;
}
