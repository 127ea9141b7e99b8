import { gunzipSync } from 'node:zlib';
import { type CompressionPolicy, markEncoded, pickStoredEncoding, varyAcceptEncoding } from './compress.ts';
import { first, type HeaderMap, INTERNAL_RESPONSE_HEADERS, joined, stripHopByHop, without } from './headers.ts';
import { ageSeconds, type CachedObject } from './object.ts';
import type { CacheRequest, CacheStatus, ClientResponse } from './request.ts';
import { normaliseAcceptEncoding } from './vary.ts';

/**
 * Delivery of a stored object to one client (spec §1.9-1.12): Age, Accept-Ranges, HEAD,
 * client conditionals (304), Range (206/416), gunzip for clients that don't accept gzip,
 * and removal of internal headers. Pure.
 */
export function deliverObject(
  req: CacheRequest,
  obj: CachedObject,
  now: number,
  cacheStatus: CacheStatus,
  debugHeader: boolean,
  compression?: CompressionPolicy,
): ClientResponse {
  const headers: HeaderMap = { ...obj.headers };
  delete headers['x-pool'];
  let body = obj.body;
  headers.age = String(ageSeconds(obj, now));
  if (debugHeader) headers['x-cache'] = cacheStatus;
  if (
    /^(x-)?gzip$/i.test(first(headers['content-encoding']) ?? '') &&
    normaliseAcceptEncoding(joined(req.headers['accept-encoding'])) === undefined
  ) {
    try {
      body = gunzipSync(body);
      delete headers['content-encoding'];
      delete headers.etag; // a different representation must not share the strong validator
    } catch {
      return synthetic(503, 'Backend fetch failed', cacheStatus, debugHeader);
    }
  }
  // Encoded copies made at store time (compress.ts): chosen before the conditional check so a 304
  // carries the same Vary/ETag as the 200 it stands for.
  if (obj.encodings && compression) {
    varyAcceptEncoding(headers);
    const enc = pickStoredEncoding(obj, req.headers, req.method, compression);
    if (enc) {
      body = obj.encodings[enc]!;
      markEncoded(headers, enc);
    }
  }
  if (obj.status === 200) {
    const cond = conditionalNotModified(req, headers, now);
    if (cond) return { status: 304, headers: notModifiedHeaders(headers), body: null, cacheStatus };
    headers['accept-ranges'] = 'bytes';
    const range = req.method === 'GET' && !obj.esi ? first(req.headers.range) : undefined;
    if (range !== undefined && ifRangeMatches(req, headers)) {
      const r = parseRange(range, body.length);
      if (r === 'unsatisfiable') {
        return {
          status: 416,
          headers: {
            ...pick(headers, ['date', 'age', 'x-cache']),
            'content-range': `bytes */${body.length}`,
            'content-length': '0',
          },
          body: Buffer.alloc(0),
          cacheStatus,
        };
      }
      if (r) {
        headers['content-range'] = `bytes ${r.start}-${r.end}/${body.length}`;
        headers['content-length'] = String(r.end - r.start + 1);
        return { status: 206, headers, body: body.subarray(r.start, r.end + 1), cacheStatus };
      }
    }
  }
  headers['content-length'] = String(body.length);
  const noBody = req.method === 'HEAD' || obj.status === 204 || obj.status === 304;
  if (obj.esi) {
    delete headers['accept-ranges'];
    delete headers.etag; // the assembled body differs per fragment state
    return { status: obj.status, headers, body: noBody ? null : body, cacheStatus, esi: !noBody };
  }
  return { status: obj.status, headers, body: noBody ? null : body, cacheStatus };
}

/** Headers of a response that will not be stored (pass, hit-for-miss): hop-by-hop and internal ones removed. */
export function sanitizeResponseHeaders(h: HeaderMap): HeaderMap {
  return without(stripHopByHop(h), INTERNAL_RESPONSE_HEADERS);
}

/** `RFC2616_Do_Cond` (spec §1.11): only for 200 responses. */
export function conditionalNotModified(req: CacheRequest, headers: HeaderMap, now: number): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const inm = joined(req.headers['if-none-match']);
  const etag = first(headers.etag);
  if (inm !== undefined) {
    if (etag === undefined) return false;
    const strong = req.headers.range !== undefined;
    return inm.split(',').some((t) => {
      const tag = t.trim();
      if (tag === '*') return true;
      return strong ? !tag.startsWith('W/') && !etag.startsWith('W/') && tag === etag : weak(tag) === weak(etag);
    });
  }
  const ims = Date.parse(first(req.headers['if-modified-since']) ?? '');
  const lm = Date.parse(first(headers['last-modified']) ?? '');
  if (Number.isNaN(ims) || Number.isNaN(lm) || ims > now + 1000) return false;
  return ims >= lm;
}

function weak(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

function notModifiedHeaders(h: HeaderMap): HeaderMap {
  return without(h, ['content-length', 'content-encoding', 'content-range', 'accept-ranges', 'transfer-encoding']);
}

function ifRangeMatches(req: CacheRequest, headers: HeaderMap): boolean {
  const ir = first(req.headers['if-range']);
  if (ir === undefined) return true;
  if (ir.startsWith('"')) {
    const etag = first(headers.etag);
    return etag !== undefined && !etag.startsWith('W/') && etag === ir;
  }
  const lm = first(headers['last-modified']);
  return lm !== undefined && Date.parse(lm) === Date.parse(ir);
}

/** A single `bytes=` range; undefined = ignore the header (serve 200). */
export function parseRange(v: string, len: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(v.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    return { start: Math.max(0, len - n), end: len - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? len - 1 : Math.min(Number(m[2]), len - 1);
  if (start >= len) return 'unsatisfiable';
  if (end < start) return undefined;
  return { start, end };
}

function pick(h: HeaderMap, names: string[]): HeaderMap {
  const out: HeaderMap = {};
  for (const n of names) if (h[n] !== undefined) out[n] = h[n];
  return out;
}

export function synthetic(status: number, text: string, cacheStatus: CacheStatus, debugHeader: boolean): ClientResponse {
  const body = Buffer.from(`${status} ${text}\n`);
  const headers: HeaderMap = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(body.length),
    'cache-control': 'no-store',
  };
  if (status === 503) headers['retry-after'] = '5';
  if (debugHeader) headers['x-cache'] = cacheStatus;
  return { status, headers, body, cacheStatus };
}
