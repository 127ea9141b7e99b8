import type { LogLine } from '@triplane/spec';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type LogFilter, matches } from '../../../logs/filter.ts';
import { logIdFloor } from '../../../logs/ids.ts';
import type { LogNotifier } from '../../../logs/notifier.ts';
import { type EnvironmentLogs, latestLogId } from '../../../logs/store.ts';

/** How often a stream reads the table (lines other replicas stored), and how often it sends a heartbeat. */
export const STREAM_POLL_MS = 1000;
const HEARTBEAT_MS = 15_000;
const RECONNECT_MS = 1000;
/**
 * Polls re-read this far back: a line is stored under the id of the instant its replica received it,
 * and commits (or reaches another replica's clock) a little later, so a line may appear below the
 * newest id already sent. Lines already sent are remembered for that long and skipped.
 */
const LOOKBACK_MS = 5000;
/** Lines waiting for a slow client, per connection; beyond it the oldest are skipped (`event: dropped`). */
export const STREAM_MAX_QUEUED = 1000;
const PAGE = 500;
const LOG_ID = /^log_[0-9a-z]{18}$/;

export interface StreamOptions {
  environmentId: string;
  filter: LogFilter;
  after: string | undefined;
  logs: EnvironmentLogs;
  notifier: LogNotifier;
  /** Open streams' end functions (closed on app close). */
  streams: Set<() => void>;
  maxStreamMs: number;
}

/**
 * One live log stream. Lines reach it two ways — pushed by this process's ingest (notifier) and read by
 * a poll every second — and are de-duplicated by id. A fresh stream starts after the newest stored
 * line; `Last-Event-ID` / `?after=` resume after that line. Buffering is bounded: lines wait in a queue
 * of STREAM_MAX_QUEUED while the socket is full; overflow skips the oldest and tells the client.
 */
export async function streamLogs(req: FastifyRequest, reply: FastifyReply, o: StreamOptions): Promise<void> {
  const { clock, store } = req.server.ctx;
  const header = req.headers['last-event-id'];
  const lastEventId = typeof header === 'string' && LOG_ID.test(header) ? header : undefined;
  /** Nothing at or below it is sent (what the client had, or what existed when it connected). */
  const floor = o.after ?? lastEventId ?? (await latestLogId(store, o.environmentId, clock.now()));
  let high = floor;
  const seen = new Set<string>();
  const queue: LogLine[] = [];
  let skipped = 0;
  let open = true;
  let wake: (() => void) | undefined;

  const enqueue = (lines: readonly LogLine[]) => {
    for (const l of lines) {
      if (l.id <= floor || seen.has(l.id) || !matches(l, o.filter)) continue;
      seen.add(l.id);
      if (l.id > high) high = l.id;
      queue.push(l);
    }
    if (queue.length > STREAM_MAX_QUEUED) skipped += queue.splice(0, queue.length - STREAM_MAX_QUEUED).length;
    wake?.();
  };

  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-accel-buffering': 'no',
    'x-request-id': req.id,
    connection: 'keep-alive',
  });
  raw.write(`: environment logs\nretry: ${RECONNECT_MS}\n\n`);
  const end = () => {
    open = false;
    wake?.();
  };
  o.streams.add(end);
  raw.on('close', end);
  raw.on('drain', () => wake?.());
  const unsubscribe = o.notifier.subscribe(o.environmentId, enqueue);

  const flush = () => {
    if (skipped > 0 && !raw.writableNeedDrain) {
      raw.write(`event: dropped\ndata: ${JSON.stringify({ count: skipped })}\n\n`);
      skipped = 0;
    }
    while (open && queue.length > 0 && !raw.writableNeedDrain) {
      const l = queue.shift() as LogLine;
      raw.write(`id: ${l.id}\nevent: line\ndata: ${JSON.stringify(l)}\n\n`);
    }
  };

  const poll = async () => {
    const now = clock.now();
    const back = logIdFloor(now - LOOKBACK_MS);
    // from the newest line sent, or from LOOKBACK_MS ago when that is older; never at or below the floor
    let cursor = high;
    if (high >= back) cursor = [back, floor].sort().at(-1) as string; // the later of two string ids
    while (open && queue.length < STREAM_MAX_QUEUED / 2) {
      const rows = await o.logs.after(o.environmentId, cursor, o.filter, PAGE);
      enqueue(rows);
      if (rows.length < PAGE) break;
      cursor = (rows.at(-1) as LogLine).id;
    }
    const forget = logIdFloor(now - 2 * LOOKBACK_MS);
    for (const id of seen) if (id < forget) seen.delete(id);
  };

  const closeAt = Date.now() + o.maxStreamMs;
  let lastPoll = 0;
  let lastBeat = Date.now();
  try {
    while (open && Date.now() < closeAt) {
      if (Date.now() - lastPoll >= STREAM_POLL_MS) {
        lastPoll = Date.now();
        await poll();
      }
      flush();
      if (Date.now() - lastBeat >= HEARTBEAT_MS) {
        if (open && !raw.writableNeedDrain) raw.write(': heartbeat\n\n');
        lastBeat = Date.now();
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(10, STREAM_POLL_MS - (Date.now() - lastPoll)));
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = undefined;
    }
  } catch (e) {
    req.log.warn({ err: e, environment: o.environmentId }, 'log stream failed');
  } finally {
    unsubscribe();
    o.streams.delete(end);
    open = false;
    if (!raw.writableEnded) raw.end();
  }
}
