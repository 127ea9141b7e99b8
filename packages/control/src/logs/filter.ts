import { TriplaneError } from '@triplane/kernel';
import type { LogKind, LogLine, LogSource } from '@triplane/spec';

/** What a search or a stream asks for; every field optional (docs/logs.md). */
export interface LogFilter {
  kind?: LogKind | undefined;
  source?: LogSource | undefined;
  /** Lower-cased substring of path, user agent or message. */
  q?: string | undefined;
  /** Inclusive status range: `5xx` → [500, 599], `404` → [404, 404]. */
  status?: readonly [number, number] | undefined;
  /** Request time range, epoch ms (since inclusive, until exclusive). */
  since?: number | undefined;
  until?: number | undefined;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `since`/`until` as the API and the CLI take them: a duration back from now (`90s`, `15m`, `1h`,
 * `1d`), epoch ms, or an ISO 8601 timestamp. Anything else is TRIPLANE_ERR_VALIDATION.
 */
export function parseLogTime(value: string, nowMs: number, field = 'since'): number {
  const v = value.trim();
  const d = /^(\d{1,6})([smhd])$/.exec(v);
  if (d) return nowMs - Number(d[1]) * (UNIT_MS[d[2] as string] as number);
  if (/^\d{10,15}$/.test(v)) return Number(v);
  const t = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(t)) {
    throw new TriplaneError('TRIPLANE_ERR_VALIDATION', `${field}: a duration (15m, 1h, 1d), epoch ms or an ISO timestamp`, {
      field,
    });
  }
  return t;
}

export function parseStatus(s: string | undefined): readonly [number, number] | undefined {
  if (!s) return undefined;
  const cls = /^([1-5])xx$/.exec(s);
  if (cls) return [Number(cls[1]) * 100, Number(cls[1]) * 100 + 99];
  if (/^\d{3}$/.test(s)) return [Number(s), Number(s)];
  throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'status: a class (5xx) or a status (404)', { field: 'status' });
}

export function toFilter(
  q: {
    kind?: LogKind | undefined;
    source?: LogSource | undefined;
    q?: string | undefined;
    status?: string | undefined;
    since?: string;
    until?: string;
  },
  nowMs: number,
): LogFilter {
  return {
    kind: q.kind,
    source: q.source,
    q: q.q ? q.q.toLowerCase() : undefined,
    status: parseStatus(q.status),
    since: q.since === undefined ? undefined : parseLogTime(q.since, nowMs, 'since'),
    until: q.until === undefined ? undefined : parseLogTime(q.until, nowMs, 'until'),
  };
}

/** The same filter in memory: lines the stream got from the in-process notifier. */
export function matches(line: LogLine, f: LogFilter): boolean {
  if (f.kind && line.kind !== f.kind) return false;
  if (f.source && line.source !== f.source) return false;
  if (f.status) {
    if (line.status === undefined || line.status < f.status[0] || line.status > f.status[1]) return false;
  }
  if (f.q) {
    const q = f.q;
    const hit =
      (line.path?.toLowerCase().includes(q) ?? false) ||
      (line.ua?.toLowerCase().includes(q) ?? false) ||
      (line.message?.toLowerCase().includes(q) ?? false);
    if (!hit) return false;
  }
  if (f.since !== undefined || f.until !== undefined) {
    const at = Date.parse(line.at);
    if (f.since !== undefined && at < f.since) return false;
    if (f.until !== undefined && at >= f.until) return false;
  }
  return true;
}
