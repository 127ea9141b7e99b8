import type { CacheEngine, Fetch } from './engine.ts';
import type { HeaderMap } from './headers.ts';
import type { CacheRequest, ClientResponse, OriginRequest } from './request.ts';

/**
 * A reference driver of the engine's state machine over an in-process origin function: what the
 * edge adapter does with sockets, without them. Used by the engine's tests and as executable
 * documentation of the protocol.
 */
export interface OriginReply {
  status: number;
  headers?: HeaderMap;
  body?: string | Buffer;
}
export type OriginFn = (req: OriginRequest) => OriginReply | Promise<OriginReply> | 'error';

export interface Driven extends ClientResponse {
  text: string;
  /** Background revalidation started by this request (await it in tests). */
  background?: Promise<void>;
}

export async function drive(engine: CacheEngine, req: CacheRequest, origin: OriginFn): Promise<Driven> {
  let coalesce = true;
  for (let round = 0; round < 10; round++) {
    const v = engine.receive(req, { coalesce });
    switch (v.kind) {
      case 'synth':
        return done(v.response);
      case 'pass': {
        const r = await origin(v.origin);
        if (r === 'error') return done(engine.errorResponse(503));
        const headers = engine.passResponse(req, r.status, r.headers ?? {});
        return done({ status: r.status, headers, body: toBuf(r.body), cacheStatus: 'PASS' });
      }
      case 'hit': {
        const out = done(v.response);
        if (v.revalidate) out.background = runFetch(engine, v.revalidate, origin).then(() => undefined);
        return out;
      }
      case 'wait': {
        const outcome = await v.until;
        coalesce = outcome !== 'failed';
        continue;
      }
      case 'miss':
        return done(await runFetch(engine, v.fetch, origin));
    }
  }
  throw new Error('drive: too many rounds');
}

async function runFetch(engine: CacheEngine, fetch: Fetch, origin: OriginFn): Promise<ClientResponse> {
  const r = await origin(fetch.origin);
  if (r === 'error') return engine.originError(fetch);
  const d = engine.originHeaders(fetch, r.status, r.headers ?? {});
  switch (d.kind) {
    case 'store': {
      const body = toBuf(r.body);
      if (body.length > d.maxBytes) {
        engine.abandon(fetch);
        return { status: r.status, headers: r.headers ?? {}, body, cacheStatus: 'MISS' };
      }
      return engine.deliver(fetch.req, engine.originBody(fetch, body));
    }
    case 'stream':
      return { status: d.status, headers: d.headers, body: d.dropBody ? null : toBuf(r.body), cacheStatus: d.cacheStatus };
    case 'refreshed':
      return engine.deliver(fetch.req, d.object);
    case 'stale':
      return d.response;
  }
}

function toBuf(b: string | Buffer | undefined): Buffer {
  return b === undefined ? Buffer.alloc(0) : typeof b === 'string' ? Buffer.from(b) : b;
}

function done(r: ClientResponse): Driven {
  return { ...r, text: r.body ? r.body.toString() : '' };
}
