import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { currentRevision } from '../../../store/store.ts';

/**
 * Serving desired state (Assignment, EdgeSnapshot) with ETag, 304 and long-poll watch.
 *
 *   GET …?wait=30   If-None-Match: "<etag>"
 *   → 200 + body + ETag at once when the content differs from the client's;
 *   → otherwise held: the store's revision (one indexed row) is read every 250 ms, and only
 *     when it moved is the document rebuilt and compared; a different ETag answers 200, the
 *     end of the wait answers 304. A client that disconnects stops the polling.
 *
 * The ETag is strong: the SHA-256 of the exact body bytes, or of the document without its
 * informational fields (`generatedAt`), so equal content gives the same ETag on every replica.
 */

export const WATCH_POLL_MS = 250;

export interface Built {
  body: string;
  etag: string;
}

export function etagOf(text: string): string {
  return `"${createHash('sha256').update(text).digest('base64url')}"`;
}

function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || t === etag);
}

/** Aborts every held watch when the server closes, so shutdown doesn't wait for long-polls. */
export function watchRegistry(app: FastifyInstance): Set<AbortController> {
  const active = new Set<AbortController>();
  app.addHook('preClose', async () => {
    for (const c of active) c.abort();
  });
  return active;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export async function serveWatched(
  req: FastifyRequest,
  reply: FastifyReply,
  o: { build: () => Promise<Built>; waitSeconds: number | undefined; active: Set<AbortController> },
): Promise<FastifyReply> {
  const { db } = req.server.ctx.store;
  const ifNoneMatch = req.headers['if-none-match'];
  let revision = await currentRevision(db);
  let cur = await o.build();
  const send = (b: Built) => reply.code(200).header('etag', b.etag).type('application/json; charset=utf-8').send(b.body);
  if (!matches(ifNoneMatch, cur.etag)) return send(cur);

  const waitMs = Math.min(Math.max(0, (o.waitSeconds ?? 0) * 1000), req.server.ctx.options.maxWatchMs);
  if (waitMs > 0) {
    const ctl = new AbortController();
    const onClose = () => ctl.abort();
    reply.raw.once('close', onClose);
    o.active.add(ctl);
    try {
      const deadline = Date.now() + waitMs;
      while (!ctl.signal.aborted) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        await sleep(Math.min(WATCH_POLL_MS, left), ctl.signal);
        if (ctl.signal.aborted) break;
        const r = await currentRevision(db);
        if (r === revision) continue;
        revision = r;
        cur = await o.build();
        if (!matches(ifNoneMatch, cur.etag)) return send(cur);
      }
    } finally {
      o.active.delete(ctl);
      reply.raw.removeListener('close', onClose);
    }
  }
  return reply.code(304).header('etag', cur.etag).send();
}
