import { TriplaneApiError } from './errors.ts';
import { seg, type Transport } from './http.ts';
import { type SseEvent, SseParser } from './sse.ts';
import { type Job, TERMINAL_JOB_STATES } from './types.ts';

/** One thing that happened to a watched job. `job` is the latest known snapshot. */
export interface JobEvent {
  /** SSE event name (`progress`, `log`, `state`, …), or `snapshot` for a polled/fetched state. */
  type: string;
  job: Job;
  /** The event's parsed data (a log line, a progress report, …). */
  data: unknown;
  /** How the event arrived. */
  via: 'stream' | 'poll';
}

export interface WatchOptions {
  signal?: AbortSignal | undefined;
  /** Polling interval once the event stream is given up, ms. Default 1000. */
  pollIntervalMs?: number | undefined;
  /** Consecutive failed stream connections before falling back to polling. Default 4. */
  maxStreamFailures?: number | undefined;
  /** Reconnect backoff, ms: base and cap. Default 250 / 5000. */
  backoffBaseMs?: number | undefined;
  backoffCapMs?: number | undefined;
  /** Give up after the API has been unreachable this long, ms. Default 60000. */
  unreachableTimeoutMs?: number | undefined;
}

export function isTerminal(job: Pick<Job, 'state'>): boolean {
  return TERMINAL_JOB_STATES.includes(job.state);
}

/** Exponential backoff with full jitter (kernel's formula; the client stays dependency-free). */
function backoff(attempt: number, baseMs: number, capMs: number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(Math.max(attempt, 1) - 1, 20));
  const floor = Math.min(ceiling, baseMs / 2);
  return Math.round(floor + (ceiling - floor) * Math.random());
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function parseData(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}

/** Fold an event's data into the job snapshot: a full job, `{job: …}`, or a partial update. */
function merge(job: Job, data: unknown): Job {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return job;
  const d = data as Record<string, unknown>;
  if (d.job && typeof d.job === 'object') return { ...job, ...(d.job as Job) };
  // `progress` and `end` events carry the whole job.
  if (d.id === job.id && typeof d.state === 'string') return { ...job, ...(d as unknown as Job) };
  const patch: Record<string, unknown> = {};
  for (const k of ['state', 'progress', 'message', 'error', 'result', 'attempts', 'finishedAt', 'startedAt']) {
    if (k in d) patch[k] = d[k];
  }
  if (typeof d.id === 'string' && d.id !== job.id) return job; // some other object (a log line id)
  return { ...job, ...patch } as Job;
}

/**
 * Follow a job until it reaches a terminal state: the server-sent-events stream
 * `GET /jobs/{id}/events` first (reconnecting with backoff when it drops, with `?after=` the
 * last log line seen and `Last-Event-ID` when the server sends ids), polling `GET /jobs/{id}`
 * when the stream is unavailable. Resolves with the final
 * job (whatever its state); rejects on auth errors, unknown jobs, abort, or a long outage.
 */
export async function followJob(t: Transport, id: string, onEvent: (e: JobEvent) => void, o: WatchOptions = {}): Promise<Job> {
  const pollMs = o.pollIntervalMs ?? 1000;
  const maxStreamFailures = o.maxStreamFailures ?? 4;
  const base = o.backoffBaseMs ?? 250;
  const cap = o.backoffCapMs ?? 5000;
  const unreachableTimeout = o.unreachableTimeoutMs ?? 60_000;
  const signal = o.signal;

  let job = await t.request<Job>('GET', `/jobs/${seg(id)}`, { signal });
  onEvent({ type: 'snapshot', job, data: job, via: 'poll' });
  if (isTerminal(job)) return job;

  let failures = 0;
  let unreachableSince: number | undefined;
  let lastEventId: string | undefined;
  let lastLogSeq = 0;
  let polling = false;

  const noteUnreachable = (e: unknown) => {
    if (!(e instanceof TriplaneApiError) || !e.unreachable) throw e;
    unreachableSince ??= Date.now();
    if (Date.now() - unreachableSince > unreachableTimeout) throw e;
  };

  const refresh = async (): Promise<boolean> => {
    const next = await t.request<Job>('GET', `/jobs/${seg(id)}`, { signal });
    unreachableSince = undefined;
    const changed = next.state !== job.state || next.progress !== job.progress || next.message !== job.message;
    job = next;
    if (changed) onEvent({ type: 'snapshot', job, data: next, via: 'poll' });
    return isTerminal(job);
  };

  for (;;) {
    if (signal?.aborted) throw signal.reason;
    if (polling) {
      try {
        if (await refresh()) return job;
      } catch (e) {
        noteUnreachable(e);
      }
      await sleep(pollMs, signal);
      continue;
    }

    let gotEvents = false;
    try {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (lastEventId) headers['last-event-id'] = lastEventId;
      // `after`: log lines already seen are not sent again after a reconnect.
      const query = lastLogSeq > 0 ? { after: lastLogSeq } : undefined;
      const res = await t.raw('GET', `/jobs/${seg(id)}/events`, { headers, query, signal, timeout: false });
      unreachableSince = undefined;
      const type = res.headers.get('content-type') ?? '';
      if (!res.ok || !type.includes('text/event-stream') || !res.body) {
        await res.body?.cancel().catch(() => {});
        if (res.status === 401 || res.status === 403) {
          throw new TriplaneApiError(res.status, 'TRIPLANE_ERR_UNAUTHENTICATED', 'not allowed to watch this job');
        }
        // No stream here (an older API, a proxy that buffers): poll instead.
        polling = true;
        continue;
      }
      let done = false;
      const parser = new SseParser((ev: SseEvent) => {
        gotEvents = true;
        if (ev.id !== undefined) lastEventId = ev.id;
        const data = parseData(ev.data);
        // Log lines carry a `message` of their own: they never change the job's snapshot.
        if (ev.event === 'log') {
          const seq = (data as { seq?: unknown } | null)?.seq;
          if (typeof seq === 'number' && seq > lastLogSeq) lastLogSeq = seq;
        } else job = merge(job, data);
        onEvent({ type: ev.event, job, data, via: 'stream' });
        if (isTerminal(job)) done = true;
      });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      try {
        for (;;) {
          const { value, done: eof } = await reader.read();
          if (eof) break;
          parser.push(value);
          if (done) break;
        }
      } finally {
        parser.end();
        await reader.cancel().catch(() => {});
      }
      if (done) return job;
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      if (e instanceof TriplaneApiError && !e.unreachable) throw e;
      // The stream dropped mid-body (undici throws "terminated") or the API is unreachable.
      if (e instanceof TriplaneApiError) noteUnreachable(e);
    }
    // The stream ended without a terminal event: check the job itself, then reconnect.
    try {
      if (await refresh()) return job;
    } catch (e) {
      noteUnreachable(e);
    }
    failures = gotEvents ? 1 : failures + 1;
    if (failures >= maxStreamFailures) polling = true;
    await sleep(backoff(failures, base, cap), signal);
  }
}

export interface WaitOptions extends WatchOptions {
  /** Called with each new snapshot of the job. */
  onProgress?: ((job: Job, event: JobEvent) => void) | undefined;
  /** Reject with TRIPLANE_ERR_TIMEOUT after this long, ms. */
  timeoutMs?: number | undefined;
}

/** Wait for a job to finish; resolves with the final job (check `state`). */
export async function waitForJob(t: Transport, id: string, o: WaitOptions = {}): Promise<Job> {
  const ctl = new AbortController();
  const signals = [ctl.signal];
  if (o.signal) signals.push(o.signal);
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (o.timeoutMs !== undefined) {
    timer = setTimeout(
      () => ctl.abort(new TriplaneApiError(0, 'TRIPLANE_ERR_TIMEOUT', `job ${id} did not finish within ${o.timeoutMs} ms`)),
      o.timeoutMs,
    );
  }
  try {
    return await followJob(t, id, (e) => o.onProgress?.(e.job, e), { ...o, signal: AbortSignal.any(signals) });
  } finally {
    if (timer) clearTimeout(timer);
  }
}
