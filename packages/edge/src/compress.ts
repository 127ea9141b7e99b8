import type { Transform } from 'node:stream';
import { promisify } from 'node:util';
import { brotliCompress, constants, createBrotliCompress, createGzip, gzip } from 'node:zlib';
import {
  type CacheEngine,
  type CompressionPolicy,
  compressible,
  type Encoding,
  type Encodings,
  type Fetch,
  type HeaderMap,
  joined,
  markEncoded,
  negotiateEncoding,
  offeredEncodings,
  varyAcceptEncoding,
  zlibOptions,
} from '@triplane/cache';
import { applyStaticPolicy, type StaticPolicy } from './static.ts';

/**
 * Compression of responses the cache does not hold (passes, uncacheable misses, bodies too large to
 * store, assembled ESI pages) and off-thread compression of bodies about to be stored. The rules
 * (negotiation, compressibility, Vary/ETag) are the cache package's (`@triplane/cache` compress.ts);
 * stored objects are compressed once there and hits only pick a stored encoding.
 *
 * Streams are flushed after every upstream chunk (Z_SYNC_FLUSH / BROTLI_OPERATION_FLUSH), so a page the
 * origin flushes early (`<head>` first) still reaches the browser early, at a small ratio cost.
 */
export interface EncodedStream {
  encoding: Encoding;
  /** Response headers with Content-Encoding, Vary and a weak ETag; no Content-Length (chunked). */
  headers: HeaderMap;
}

/** The client-facing request facts compression depends on. */
export interface EncodeRequest {
  method: string;
  headers: HeaderMap;
}

/**
 * Decides whether a response about to be streamed is compressed. `undefined` = send as is (the
 * headers may still need `Vary: Accept-Encoding`: see `varyOnly`). HEAD gets the headers a GET would.
 */
export function streamEncoding(
  policy: CompressionPolicy | undefined,
  req: EncodeRequest,
  status: number,
  headers: HeaderMap,
): EncodedStream | undefined {
  if (!compressible(policy, status, headers)) return undefined;
  const encoding = negotiateEncoding(joined(req.headers['accept-encoding']), offeredEncodings(policy));
  if (!encoding) return undefined;
  const out: HeaderMap = { ...headers };
  delete out['content-length'];
  markEncoded(out, encoding);
  return { encoding, headers: out };
}

/**
 * Headers of a compressible response sent uncompressed (the client accepts no offered coding): it
 * still varies on Accept-Encoding, so downstream caches must not hand it to a br/gzip client (or the
 * reverse). Same map when nothing changes.
 */
export function varyOnly(policy: CompressionPolicy | undefined, status: number, headers: HeaderMap): HeaderMap {
  if (!compressible(policy, status, headers)) return headers;
  const out = { ...headers };
  varyAcceptEncoding(out);
  return out;
}

/** A streaming encoder flushed per chunk, at the stream levels (compress.ts LEVELS.stream). */
export function createEncoder(encoding: Encoding): Transform {
  if (encoding === 'gzip') return createGzip({ ...zlibOptions('gzip', 'stream'), flush: constants.Z_SYNC_FLUSH });
  return createBrotliCompress({ ...zlibOptions('br', 'stream'), flush: constants.BROTLI_OPERATION_FLUSH });
}

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

/** One body, compressed on libuv's thread pool (keeps the event loop free for other requests). */
export async function encodeBody(body: Buffer, encoding: Encoding, level: 'store' | 'stream'): Promise<Buffer> {
  return encoding === 'gzip'
    ? gzipAsync(body, zlibOptions('gzip', level))
    : brotliAsync(body, zlibOptions('br', level, body.length));
}

/**
 * The encoded copies of a body the engine is about to store, made off the event loop; the engine keeps
 * them beside the identity body (and counts them). A failure stores the identity body only.
 */
export async function encodeForStore(engine: CacheEngine, fetch: Fetch, body: Buffer): Promise<Encodings> {
  const want = engine.encodingsFor(fetch, body);
  const out: Partial<Record<Encoding, Buffer>> = {};
  try {
    const encoded = await Promise.all(want.map((e) => encodeBody(body, e, 'store')));
    want.forEach((e, i) => {
      out[e] = encoded[i]!;
    });
  } catch {
    return {};
  }
  return out;
}

/** What a site's delivery policies need (SiteConfigResolved satisfies it). */
export interface DeliveryPolicies {
  compression: CompressionPolicy | undefined;
  static: StaticPolicy | undefined;
}

/**
 * Headers and encoder for a streamed response (proxy.ts `stream`): static browser-cache headers, then
 * compression. `encoder` is undefined when the body goes out as is (or there is none: HEAD, 304).
 */
export function prepareStream(
  site: DeliveryPolicies | undefined,
  req: (EncodeRequest & { url: string }) | undefined,
  status: number,
  headers: HeaderMap,
  noBody: boolean,
): { headers: HeaderMap; encoder: Transform | undefined } {
  if (!site || !req) return { headers, encoder: undefined };
  const h = applyStaticPolicy(site.static, req.url, status, headers);
  const enc = streamEncoding(site.compression, req, status, h);
  if (!enc) return { headers: varyOnly(site.compression, status, h), encoder: undefined };
  return { headers: enc.headers, encoder: noBody ? undefined : createEncoder(enc.encoding) };
}

/**
 * A whole response built in memory (hits, synthetic answers, assembled ESI pages; proxy.ts `write`):
 * static headers always; compression only for `assembled` bodies (ESI), since stored objects come
 * from the engine already in the client's encoding.
 */
export async function prepareBody(
  site: DeliveryPolicies | undefined,
  req: (EncodeRequest & { url: string }) | undefined,
  status: number,
  headers: HeaderMap,
  body: Buffer | null,
  assembled: boolean,
): Promise<{ headers: HeaderMap; body: Buffer | null }> {
  if (!site || !req) return { headers, body };
  const h = applyStaticPolicy(site.static, req.url, status, headers);
  if (!assembled || !body || !compressible(site.compression, status, h, body.length)) return { headers: h, body };
  const enc = streamEncoding(site.compression, req, status, h);
  if (!enc) return { headers: varyOnly(site.compression, status, h), body };
  const z = await encodeBody(body, enc.encoding, 'stream');
  return { headers: { ...enc.headers, 'content-length': String(z.length) }, body: z };
}
