import type { LogKind, LogLine, LogSource } from '@triplane/spec';
import { errorFromBody, TriplaneApiError } from './errors.ts';
import { seg, type Transport } from './http.ts';
import { type SseEvent, SseParser } from './sse.ts';

export interface LogFilters {
  kind?: LogKind | undefined;
  /** edge, nginx (the site's nginx error log) or php (php-fpm and PHP errors). */
  source?: LogSource | undefined;
  /** Case-insensitive substring of path, user agent or message. */
  q?: string | undefined;
  /** `5xx` or `404`. */
  status?: string | undefined;
}

export interface LogSearch extends LogFilters {
  /** A duration back from now (`15m`, `1h`), epoch ms or an ISO timestamp. */
  since?: string | undefined;
  until?: string | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface FollowLogsOptions extends LogFilters {
  /** Start after this line id (default: lines arriving from now on). */
  after?: string | undefined;
  signal?: AbortSignal | undefined;
  /** The server skipped lines this connection could not take fast enough. */
  onDropped?: ((count: number) => void) | undefined;
  /** Reconnect backoff, ms: base and cap. Default 250 / 5000. */
  backoffBaseMs?: number | undefined;
  backoffCapMs?: number | undefined;
  /** Give up after the API has been unreachable this long, ms. Default 60000. */
  unreachableTimeoutMs?: number | undefined;
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Follow an environment's live log (`GET /environments/{id}/logs/stream`, server-sent events):
 * `onLine` per new line, in order. Reconnects when the stream ends or drops, resuming after the last
 * line seen (Last-Event-ID), so nothing is shown twice. Resolves when `signal` aborts; rejects on
 * auth errors, an unknown environment, bad filters, or an API unreachable for `unreachableTimeoutMs`.
 */
export async function followLogs(
  t: Transport,
  environmentId: string,
  onLine: (line: LogLine) => void,
  o: FollowLogsOptions = {},
): Promise<void> {
  const base = o.backoffBaseMs ?? 250;
  const cap = o.backoffCapMs ?? 5000;
  const unreachableTimeout = o.unreachableTimeoutMs ?? 60_000;
  const signal = o.signal;
  let lastId = o.after;
  let failures = 0;
  let unreachableSince: number | undefined;
  while (!signal?.aborted) {
    try {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (lastId) headers['last-event-id'] = lastId;
      const query = { kind: o.kind, source: o.source, q: o.q, status: o.status, after: lastId };
      const res = await t.raw('GET', `/environments/${seg(environmentId)}/logs/stream`, {
        headers,
        query,
        signal,
        timeout: false,
      });
      unreachableSince = undefined;
      if (!res.ok || !res.body) {
        const text = await res.text().catch(() => '');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        const err = errorFromBody(res.status, body, text.slice(0, 200));
        if (res.status < 500) throw err;
        failures++;
      } else {
        const parser = new SseParser((ev: SseEvent) => {
          if (ev.event === 'line') {
            const line = JSON.parse(ev.data) as LogLine;
            lastId = line.id;
            failures = 0;
            onLine(line);
          } else if (ev.event === 'dropped') o.onDropped?.((JSON.parse(ev.data) as { count: number }).count);
        });
        const opened = Date.now();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            parser.push(value);
          }
        } finally {
          parser.end();
          await reader.cancel().catch(() => {});
        }
        // the server ends a stream after a while: reconnect at once (unless it keeps ending at once)
        if (Date.now() - opened > 1000) continue;
        failures++;
      }
    } catch (e) {
      if (signal?.aborted) return;
      if (e instanceof TriplaneApiError && !e.unreachable && e.status !== 0) throw e;
      if (e instanceof TriplaneApiError && e.unreachable) {
        unreachableSince ??= Date.now();
        if (Date.now() - unreachableSince > unreachableTimeout) throw e;
      }
      failures++;
    }
    const ceiling = Math.min(cap, base * 2 ** Math.min(failures, 20));
    await pause(Math.round(ceiling / 2 + (Math.random() * ceiling) / 2), signal);
  }
}
