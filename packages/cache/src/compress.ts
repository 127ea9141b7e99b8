import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { first, type HeaderMap, joined } from './headers.ts';
import type { CachedObject } from './object.ts';

/**
 * Compression at delivery (gzip, brotli), the pure half: Accept-Encoding negotiation with
 * q-values, which responses are worth compressing, and the encoded bodies a stored object keeps
 * beside its identity body so a hit costs no compression CPU. The streaming half (passes,
 * uncacheable misses) is the edge's (`packages/edge/src/compress.ts`) and uses the same rules.
 *
 * Variant selection is unchanged: the engine still normalises Accept-Encoding to `gzip`/absent for
 * lookup and origin fetches (spec §1.8, Varnish `RFC2616_Req_Gzip`), so an origin that Varies on it
 * costs at most two fetches. The encoding a client receives is chosen per delivery from the encodings
 * the object holds, so one identity object serves br, gzip and identity clients:
 *
 *   origin: 200 text/html (identity, 40 KB)  ──store──►  object { body: identity, encodings: { br, gzip } }
 *   client `Accept-Encoding: gzip, br`        ──hit───►  br body, `Content-Encoding: br`, `Vary: Accept-Encoding`, W/ETag
 *   client (no Accept-Encoding) / `Range:`    ──hit───►  identity body, `Vary: Accept-Encoding`, ETag unchanged
 */
export type Encoding = 'br' | 'gzip';
export type Encodings = Readonly<Partial<Record<Encoding, Buffer>>>;

export interface CompressionPolicy {
  gzip: boolean;
  brotli: boolean;
  /** Bodies smaller than this are sent as they are (the framing overhead eats the gain). */
  minBytes: number;
}

export const DEFAULT_COMPRESSION: CompressionPolicy = { gzip: true, brotli: true, minBytes: 1024 };

/**
 * Levels, measured on this machine (Node 24, one core, sync, ms / output bytes):
 *
 *   body              gzip 6          gzip 9          br 4            br 5            br 6            br 9             br 11
 *   10 KB HTML        0.22 / 1042     0.27 / 960      0.13 / 797      0.17 / 716      0.43 / 665      17.6 / 592       8.4 / 619
 *   10 KB JS          0.17 / 2324     0.20 / 2326     0.13 / 2422     0.21 / 2291     0.46 / 2289     53.4 / 2280      11.7 / 2087
 *   200 KB JS         4.29 / 38396    11.7 / 38242    3.22 / 39782    4.96 / 36916    4.99 / 36556    203 / 35856      192 / 32430
 *   200 KB HTML       0.79 / 17388    2.90 / 16063    0.28 / 3274     0.40 / 2597     0.45 / 2537     36.4 / 2284      46.5 / 2252
 *
 * Stored objects: br 6 + gzip 6 (≤ 5 ms per 200 KB, within 1-2 % of br 9; br 11 buys ~11 % on JS for 40× the
 * CPU, ~190 ms per 200 KB on the miss path — not worth delaying the miss and its coalesced waiters).
 * Streams: br 4 + gzip 5, per chunk, on every passed response.
 */
export type EncodeLevel = 'store' | 'stream';
export const LEVELS: Record<EncodeLevel, { gzip: number; brotli: number }> = {
  store: { gzip: 6, brotli: 6 },
  stream: { gzip: 5, brotli: 4 },
};

/** zlib options for an encoder (shared by the sync path here and the edge's streams). */
export function zlibOptions(enc: Encoding, level: EncodeLevel, sizeHint?: number): Record<string, unknown> {
  if (enc === 'gzip') return { level: LEVELS[level].gzip };
  const params: Record<number, number> = {
    [constants.BROTLI_PARAM_QUALITY]: LEVELS[level].brotli,
    [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
  };
  if (sizeHint !== undefined) params[constants.BROTLI_PARAM_SIZE_HINT] = sizeHint;
  return { params };
}

/** Encodings a policy allows, in server preference order (br compresses text better than gzip). */
export function offeredEncodings(policy: CompressionPolicy | undefined): Encoding[] {
  if (!policy) return [];
  const out: Encoding[] = [];
  if (policy.brotli) out.push('br');
  if (policy.gzip) out.push('gzip');
  return out;
}

/**
 * RFC 9110 §12.5.3: the coding to use among `offered` (preference order) for an Accept-Encoding value,
 * or undefined for identity. Highest q wins, ties go to the server's order; `q=0` refuses a coding;
 * `*` covers codings not listed; `x-gzip` is `gzip`; no header, `identity` alone or a malformed q → identity.
 */
export function negotiateEncoding(acceptEncoding: string | undefined, offered: readonly Encoding[]): Encoding | undefined {
  if (!acceptEncoding || offered.length === 0) return undefined;
  const q = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [rawCoding, ...params] = part.split(';');
    let coding = rawCoding?.trim().toLowerCase() ?? '';
    if (!coding) continue;
    if (coding === 'x-gzip') coding = 'gzip';
    let weight = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*(\S*)\s*$/i.exec(p);
      if (!m) continue;
      weight = /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(m[1]!) ? Number(m[1]) : 0;
    }
    // A repeated coding keeps its lowest weight: a refusal (q=0) must not be overridden.
    q.set(coding, Math.min(weight, q.get(coding) ?? 1));
  }
  let best: Encoding | undefined;
  let bestQ = 0;
  for (const enc of offered) {
    const w = q.get(enc) ?? q.get('*') ?? 0;
    if (w > bestQ) {
      best = enc;
      bestQ = w;
    }
  }
  return best;
}

/** Media types worth compressing (text and text-like formats; images/video/archives are already compressed). */
const COMPRESSIBLE_TYPE =
  /^(text\/(?!event-stream)[-+.\w]+|application\/([-.\w]+\+)?(json|xml)|application\/(javascript|x-javascript|ecmascript|x-ecmascript|wasm|x-font-ttf|x-font-otf|vnd\.ms-fontobject|rss\+xml|atom\+xml|xhtml\+xml|manifest\+json|graphql-response\+json|x-www-form-urlencoded)|image\/(svg\+xml|x-icon|vnd\.microsoft\.icon|bmp)|font\/(ttf|otf|collection))$/i;

export function compressibleType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const mime = contentType.split(';')[0]!.trim();
  return COMPRESSIBLE_TYPE.test(mime);
}

/**
 * Whether a response may be compressed under `policy`: a compressible type, not already encoded, not
 * a partial/empty/304 response, no `Cache-Control: no-transform` (RFC 9111 §5.2.2.6), and at least
 * `minBytes` long when the length is known (`bodyLength`, else Content-Length; unknown = streamed, assumed large).
 */
export function compressible(
  policy: CompressionPolicy | undefined,
  status: number,
  headers: HeaderMap,
  bodyLength?: number,
): boolean {
  if (!policy || (!policy.gzip && !policy.brotli)) return false;
  if (status < 200 || status === 204 || status === 206 || status === 304) return false;
  const ce = first(headers['content-encoding']);
  if (ce !== undefined && ce.trim().toLowerCase() !== 'identity') return false;
  if (headers['content-range'] !== undefined) return false;
  if (/(^|[\s,])no-transform([\s,;=]|$)/i.test(joined(headers['cache-control']) ?? '')) return false;
  if (!compressibleType(first(headers['content-type']))) return false;
  const len = bodyLength ?? (headers['content-length'] !== undefined ? Number(first(headers['content-length'])) : undefined);
  return len === undefined || Number.isNaN(len) || len >= policy.minBytes;
}

/** Compresses one body synchronously (the pure engine's path; the edge does the same off-thread). */
export function encodeSync(body: Buffer, enc: Encoding, level: EncodeLevel): Buffer {
  return enc === 'gzip'
    ? gzipSync(body, zlibOptions('gzip', level))
    : brotliCompressSync(body, zlibOptions('br', level, body.length));
}

/** Encoded bodies for a stored object: every offered encoding that actually shrinks the body. */
export function encodeAllSync(body: Buffer, encodings: readonly Encoding[]): Encodings {
  const out: Partial<Record<Encoding, Buffer>> = {};
  for (const enc of encodings) {
    const z = encodeSync(body, enc, 'store');
    if (z.length < body.length) out[enc] = z;
  }
  return out;
}

/**
 * The object with its encoded bodies attached; `size` (what the storage charges against its bound)
 * includes them, so memory accounting stays exact.
 */
export function withEncodings(obj: CachedObject, encodings: Encodings | undefined): CachedObject {
  if (!encodings) return obj;
  let extra = 0;
  const kept: Partial<Record<Encoding, Buffer>> = {};
  for (const enc of ['br', 'gzip'] as const) {
    const b = encodings[enc];
    if (b && b.length < obj.body.length) {
      kept[enc] = b;
      extra += b.length + 32;
    }
  }
  if (extra === 0) return obj;
  return { ...obj, encodings: kept, size: obj.size + extra };
}

/** Adds `Accept-Encoding` to Vary (kept when already named; `Vary: *` stays as it is). */
export function varyAcceptEncoding(h: HeaderMap): void {
  const v = joined(h.vary);
  if (!v) {
    h.vary = 'Accept-Encoding';
    return;
  }
  const names = v.split(',').map((n) => n.trim().toLowerCase());
  if (names.includes('*') || names.includes('accept-encoding')) return;
  h.vary = `${v}, Accept-Encoding`;
}

/**
 * Headers of an encoded representation: Content-Encoding, Vary, and a weak ETag — the bytes differ
 * from the identity representation, so a strong validator must not be shared (RFC 9110 §8.8.1), while
 * a weak one still lets `If-None-Match` (weak comparison) match either form. Content-Length is the caller's.
 */
export function markEncoded(h: HeaderMap, enc: Encoding): void {
  h['content-encoding'] = enc;
  varyAcceptEncoding(h);
  const etag = first(h.etag);
  if (etag !== undefined && !etag.startsWith('W/')) h.etag = `W/${etag}`;
}

/**
 * The encoding to deliver a stored object in, or undefined for its identity body. `Range` requests get
 * identity (a byte range of a compressed body would be a different representation to keep consistent).
 */
export function pickStoredEncoding(
  obj: CachedObject,
  reqHeaders: HeaderMap,
  method: string,
  policy: CompressionPolicy | undefined,
): Encoding | undefined {
  const e = obj.encodings;
  if (!e || !policy) return undefined;
  if (method === 'GET' && reqHeaders.range !== undefined) return undefined;
  const offered = offeredEncodings(policy).filter((x) => e[x] !== undefined);
  return negotiateEncoding(joined(reqHeaders['accept-encoding']), offered);
}
