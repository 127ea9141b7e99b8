import type { Clock } from '@triplane/kernel';
import type {
  AgentLogBatch,
  AgentLogLine,
  EdgeLogBatch,
  EdgeLogLine,
  LogIngestResult,
  LogLine,
  LogList,
  LogSource,
} from '@triplane/spec';
import { type Insertable, type Selectable, sql } from 'kysely';
import { parseServerIds } from '../desired/rows.ts';
import type { Store } from '../store/store.ts';
import type { LogFilter } from './filter.ts';
import { logIdFloor, newLogId } from './ids.ts';
import { type EnvironmentLogsTable, logsDb, logsTrx } from './tables.ts';

/** Lines older than this (request time) are deleted: the search window. */
export const LOG_KEEP_MS = 24 * 3_600_000;
/**
 * Per environment, at most this many of the newest access lines… At ~400 bytes a row (with indexes)
 * that is ~20 MB per environment, so 200 environments stay under ~4 GB even when all are busy; a shop
 * under 0.6 req/s keeps its whole 24 h, a busier one its latest 50,000 requests (at 10 req/s the last
 * ~80 min) — enough to find what just went wrong, which is what a live log is for. Long-term traffic
 * numbers are the metrics' job (docs/metrics.md).
 */
export const LOG_KEEP_ACCESS = 50_000;
/**
 * …and error lines, counted apart so a flood of requests never pushes the errors out — and per source
 * (edge, nginx, php), so a PHP warning logged on every request never pushes the edge's errors out.
 */
export const LOG_KEEP_ERROR = 10_000;
/** An edge's timestamp is trusted only within this much before the control plane's clock (and never after it). */
export const LOG_CLOCK_SLACK_MS = 10 * 60_000;
/** Age pruning runs on ingest at most this often per process; the per-environment count cut this often per environment. */
export const PRUNE_AGE_EVERY_MS = 60_000;
export const PRUNE_COUNT_EVERY_MS = 30_000;

/** The (kind, source) groups capped apart: access lines come only from edges. */
const CAPPED = [
  ['access', 'edge'],
  ['error', 'edge'],
  ['error', 'nginx'],
  ['error', 'php'],
] as const;

/** Rows per INSERT: 11 columns each, far below SQLite's and PostgreSQL's bound-parameter limits. */
const CHUNK = 100;

export interface EnvironmentLogsOptions {
  keepAccess?: number;
  keepError?: number;
}

/**
 * The 24-hour log store of environments (migrations 008, 009): ingest from edges (access and error
 * lines) and from app servers (their site pods' nginx and php error lines), search, and the reads
 * behind the live stream. Bounded with no scheduler: ingest deletes lines past 24 h (at most once a
 * minute) and an environment's lines past the newest LOG_KEEP_ACCESS / LOG_KEEP_ERROR (at most every
 * 30 s per environment, so between two cuts an environment may hold what arrived in 30 s more).
 *
 * Example:
 *   const logs = new EnvironmentLogs(store, clock);
 *   const { lines } = await logs.ingest(batch);                  // POST /edge/logs
 *   const page = await logs.search(envId, { status: [500, 599] }, 100);
 */
export class EnvironmentLogs {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #keep: { access: number; error: number };
  #lastAgePrune = Number.NEGATIVE_INFINITY;
  readonly #lastCountPrune = new Map<string, number>();

  constructor(store: Store, clock: Clock, o: EnvironmentLogsOptions = {}) {
    this.#store = store;
    this.#clock = clock;
    this.#keep = { access: o.keepAccess ?? LOG_KEEP_ACCESS, error: o.keepError ?? LOG_KEEP_ERROR };
  }

  /** Stores an edge's batch; lines of unknown environments are ignored. Returns the stored lines (for the notifier). */
  ingest(batch: EdgeLogBatch): Promise<LogIngestResult & { lines: LogLine[] }> {
    return this.#ingest(batch.lines, toRow, undefined);
  }

  /**
   * Stores an app server's batch of site error lines (nginx, php). Only lines of environments placed
   * on that server are stored; the rest are `ignored` (a server never writes another's logs).
   */
  ingestSite(serverId: string, batch: AgentLogBatch): Promise<LogIngestResult & { lines: LogLine[] }> {
    return this.#ingest(batch.lines, toSiteRow, serverId);
  }

  async #ingest<L extends { environmentId: string }>(
    lines: readonly L[],
    row: (l: L, now: number) => Insertable<EnvironmentLogsTable>,
    serverId: string | undefined,
  ): Promise<LogIngestResult & { lines: LogLine[] }> {
    const now = this.#clock.now();
    const wanted = [...new Set(lines.map((l) => l.environmentId))];
    const out = await this.#store.transaction(async (t) => {
      const trx = logsTrx(t);
      const known = new Set<string>();
      for (let i = 0; i < wanted.length; i += 500) {
        const rows = await trx
          .selectFrom('environments')
          .select(['id', 'server_ids'])
          .where('id', 'in', wanted.slice(i, i + 500))
          .execute();
        for (const r of rows) if (serverId === undefined || parseServerIds(r.server_ids).includes(serverId)) known.add(r.id);
      }
      const rows: Insertable<EnvironmentLogsTable>[] = [];
      for (const l of lines) if (known.has(l.environmentId)) rows.push(row(l, now));
      for (let i = 0; i < rows.length; i += CHUNK)
        await trx
          .insertInto('environment_logs')
          .values(rows.slice(i, i + CHUNK))
          .execute();
      return { accepted: rows.length, ignored: lines.length - rows.length, rows, known };
    });
    await this.#maybePrune(now, out.known);
    return {
      accepted: out.accepted,
      ignored: out.ignored,
      lines: out.rows.map((r) => toLine(r as Selectable<EnvironmentLogsTable>)),
    };
  }

  /** Newest first, `limit` lines older than `cursor` (an id); nextCursor when there are more. */
  async search(environmentId: string, f: LogFilter, limit: number, cursor?: string): Promise<LogList> {
    let q = this.#filtered(environmentId, f);
    if (cursor) q = q.where('id', '<', cursor);
    const rows = await q
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const page = rows.slice(0, limit);
    return { items: page.map(toLine), nextCursor: rows.length > limit ? (page.at(-1)?.id ?? null) : null };
  }

  /** Oldest first, up to `limit` lines with an id above `afterId` (the stream's poll). */
  async after(environmentId: string, afterId: string, f: LogFilter, limit: number): Promise<LogLine[]> {
    const rows = await this.#filtered(environmentId, f).where('id', '>', afterId).orderBy('id', 'asc').limit(limit).execute();
    return rows.map(toLine);
  }

  #filtered(environmentId: string, f: LogFilter) {
    let q = logsDb(this.#store.db).selectFrom('environment_logs').selectAll().where('environment_id', '=', environmentId);
    if (f.kind) q = q.where('kind', '=', f.kind);
    if (f.source) q = q.where('source', '=', f.source);
    if (f.status) q = q.where('status', '>=', f.status[0]).where('status', '<=', f.status[1]);
    if (f.since !== undefined) q = q.where('at', '>=', f.since);
    if (f.until !== undefined) q = q.where('at', '<', f.until);
    if (f.q) {
      // LIKE with the wildcards of the text escaped; lower() on both sides (PostgreSQL's LIKE is case-sensitive)
      const pattern = `%${f.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      const like = (col: 'path' | 'ua' | 'message') => sql<boolean>`lower(${sql.ref(col)}) like ${pattern} escape '\\'`;
      q = q.where((eb) => eb.or([like('path'), like('ua'), like('message')]));
    }
    return q;
  }

  async #maybePrune(now: number, environments: Set<string>): Promise<void> {
    if (now - this.#lastAgePrune >= PRUNE_AGE_EVERY_MS) {
      this.#lastAgePrune = now;
      await pruneLogsByAge(this.#store, now);
    }
    for (const env of environments) {
      if (now - (this.#lastCountPrune.get(env) ?? Number.NEGATIVE_INFINITY) < PRUNE_COUNT_EVERY_MS) continue;
      this.#lastCountPrune.set(env, now);
      await this.pruneEnvironment(env);
    }
    // forget environments not heard of in a while (the map would otherwise grow with every environment ever seen)
    if (this.#lastCountPrune.size > 10_000)
      for (const [env, t] of this.#lastCountPrune) if (now - t > PRUNE_COUNT_EVERY_MS) this.#lastCountPrune.delete(env);
  }

  /** Deletes an environment's lines past the newest keepAccess access / keepError error lines (errors per source). */
  async pruneEnvironment(environmentId: string): Promise<number> {
    const db = logsDb(this.#store.db);
    let deleted = 0;
    for (const [kind, source] of CAPPED) {
      const cut = await db
        .selectFrom('environment_logs')
        .select('id')
        .where('environment_id', '=', environmentId)
        .where('source', '=', source)
        .where('kind', '=', kind)
        .orderBy('id', 'desc')
        .offset(this.#keep[kind])
        .limit(1)
        .executeTakeFirst();
      if (!cut) continue;
      const r = await db
        .deleteFrom('environment_logs')
        .where('environment_id', '=', environmentId)
        .where('source', '=', source)
        .where('kind', '=', kind)
        .where('id', '<=', cut.id)
        .executeTakeFirst();
      deleted += Number(r.numDeletedRows);
    }
    return deleted;
  }
}

/** Deletes every line whose request time is more than LOG_KEEP_MS before `nowMs`. */
export async function pruneLogsByAge(store: Store, nowMs: number): Promise<number> {
  const r = await logsDb(store.db)
    .deleteFrom('environment_logs')
    .where('at', '<', nowMs - LOG_KEEP_MS)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** The newest id an environment has now (where a fresh stream starts), or the floor of `nowMs`. */
export async function latestLogId(store: Store, environmentId: string, nowMs: number): Promise<string> {
  const row = await logsDb(store.db)
    .selectFrom('environment_logs')
    .select('id')
    .where('environment_id', '=', environmentId)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  const floor = logIdFloor(nowMs);
  return row && row.id > floor ? row.id : floor;
}

const JSON_FIELDS = ['requestId', 'host', 'bytes', 'ms', 'cache', 'waf', 'ip', 'upstream', 'upstreamMs'] as const;

function toRow(l: EdgeLogLine, now: number): Insertable<EnvironmentLogsTable> {
  const rest: Record<string, unknown> = {};
  for (const k of JSON_FIELDS) if (l[k] !== undefined) rest[k] = l[k];
  return {
    id: newLogId(now),
    environment_id: l.environmentId,
    at: Math.min(now, Math.max(now - LOG_CLOCK_SLACK_MS, l.at)),
    kind: l.kind,
    source: 'edge',
    status: l.status ?? null,
    method: l.method ?? null,
    path: l.path ?? null,
    ua: l.ua ?? null,
    message: l.message ?? null,
    line: JSON.stringify(rest),
  };
}

/** A site pod's error line: always kind `error`; host and client IP (from nginx's context) go to the JSON part. */
function toSiteRow(l: AgentLogLine, now: number): Insertable<EnvironmentLogsTable> {
  const rest: Record<string, unknown> = {};
  if (l.host !== undefined) rest.host = l.host;
  if (l.ip !== undefined) rest.ip = l.ip;
  return {
    id: newLogId(now),
    environment_id: l.environmentId,
    at: Math.min(now, Math.max(now - LOG_CLOCK_SLACK_MS, l.at)),
    kind: 'error',
    source: l.source,
    status: null,
    method: l.method ?? null,
    path: l.path ?? null,
    ua: null,
    message: l.message,
    line: JSON.stringify(rest),
  };
}

function toLine(r: Selectable<EnvironmentLogsTable>): LogLine {
  const rest = JSON.parse(r.line) as Partial<LogLine>;
  const line: LogLine = {
    id: r.id,
    environmentId: r.environment_id,
    at: new Date(Number(r.at)).toISOString(),
    source: (r.source ?? 'edge') as LogSource,
    kind: r.kind as LogLine['kind'],
  };
  if (r.method !== null) line.method = r.method;
  if (rest.host !== undefined) line.host = rest.host;
  if (r.path !== null) line.path = r.path;
  if (r.status !== null) line.status = Number(r.status);
  for (const k of JSON_FIELDS) if (k !== 'host' && rest[k] !== undefined) (line as Record<string, unknown>)[k] = rest[k];
  if (r.ua !== null) line.ua = r.ua;
  if (r.message !== null) line.message = r.message;
  return line;
}
