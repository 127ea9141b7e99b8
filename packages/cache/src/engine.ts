import { type Clock, systemClock } from '@triplane/kernel';
import {
  type CompressionPolicy,
  compressible,
  type Encoding,
  type Encodings,
  encodeAllSync,
  offeredEncodings,
  withEncodings,
} from './compress.ts';
import { conditionalNotModified, deliverObject, sanitizeResponseHeaders, synthetic } from './deliver.ts';
import { hasEsi } from './esi.ts';
import { FETCH_FILTERED, first, type HeaderMap, INTERNAL_RESPONSE_HEADERS, joined, stripHopByHop, without } from './headers.ts';
import type { MemoryStorage } from './memory-storage.ts';
import { type CachedObject, remainingTtl } from './object.ts';
import type { DeliveryInfo, Profile, PurgeCommand, RecvDecision } from './profile.ts';
import { MAX_PURGE_PATTERN } from './purge-request.ts';
import type { CacheRequest, ClientResponse, OriginRequest } from './request.ts';
import { extractTags } from './tags.ts';
import { computeLifetime, type Lifetime, type TtlDefaults, VARNISH_DEFAULTS } from './ttl.ts';
import { normaliseAcceptEncoding, variantId, varyNames } from './vary.ts';

/**
 * The cache as an explicit state machine (spec §1, ARCHITECTURE "cache"). Pure: no sockets,
 * no timers; time comes from the injected clock. The adapter drives it:
 *
 *   receive(req) ──► synth ─────────────────────────────► write response
 *                ├─► pass  ── fetch origin ── passResponse(req, status, headers) ──► stream
 *                ├─► hit   (fresh or grace; optional `revalidate` fetch to run in background)
 *                ├─► wait  ── await `until` ── receive(req, { coalesce: outcome !== 'failed' })
 *                └─► miss  ── fetch origin ── originHeaders(fetch, status, headers)
 *                                   ├─► store     ── read body ── originBody(fetch, body) ──► deliver(req, obj)
 *                                   ├─► stream    (uncacheable: HFM recorded, waiters released)
 *                                   ├─► refreshed (304 on a conditional fetch) ──► deliver(req, obj)
 *                                   └─► stale     (stale-if-error on 5xx)
 *                           (transport error) ── originError(fetch, status) ──► stale or synthetic
 *
 * Coalescing (§1.6): one in-flight fetch per primary key; requests that arrive meanwhile get a
 * `wait` verdict. The engine decides, the adapter waits. Hit-for-miss keys are never coalesced,
 * and once a fetch proves uncacheable every waiter is released at once (parallel, not serial).
 */
export interface CacheEngineOptions {
  profile: Profile;
  storage: MemoryStorage;
  clock?: Clock;
  defaults?: Partial<TtlDefaults>;
  /** Hit-for-miss marker lifetime, seconds (builtin 120). */
  hfmSeconds?: number;
  /** Add `X-Cache: HIT|MISS|…` to responses (off by default). */
  debugHeader?: boolean;
  /** Whether the origin is healthy (active health checks); drives health-aware grace (Magento). */
  originHealthy?: () => boolean;
  /**
   * Safety net: an in-flight fetch older than this is treated as lost (adapter bug, hung origin)
   * and no longer coalesces new requests. Default 10 min (Magento's first_byte_timeout).
   */
  maxFetchMs?: number;
  /**
   * Called after a purge *request* (PURGE/BAN/xkey, `receive`) ran here — so an adapter with several
   * caches (one per edge worker process) can run the same command on the others.
   */
  onPurge?: (cmd: PurgeCommand) => void;
  /** Compress stored text bodies once (br/gzip) and deliver the client's best encoding (compress.ts). Off when absent. */
  compression?: CompressionPolicy;
}

export type FetchOutcome = 'stored' | 'uncacheable' | 'failed';

export interface Fetch {
  readonly id: number;
  readonly key: string;
  readonly req: CacheRequest;
  readonly decision: Extract<RecvDecision, { action: 'hash' }>;
  readonly origin: OriginRequest;
  /** 'miss' is coalesced; 'hfm' is not; 'background' refreshes a graced object. */
  readonly mode: 'miss' | 'hfm' | 'background';
  /** Stale object this fetch may revalidate (304) or fall back to (stale-if-error). */
  readonly stale: CachedObject | undefined;
  /** A purge matched while in flight: deliver, but do not store. */
  invalidated: boolean;
  /** Clock time the fetch was created (a fetch older than `maxFetchMs` is not waited for). */
  readonly startedAt: number;
  settled: boolean;
  waiters: Array<(o: FetchOutcome) => void>;
  /** Set by originHeaders for the `store` decision. */
  pending?: { status: number; headers: HeaderMap; life: Lifetime };
}

export type Verdict =
  | { kind: 'synth'; response: ClientResponse }
  | { kind: 'pass'; origin: OriginRequest }
  | { kind: 'hit'; response: ClientResponse; revalidate?: Fetch }
  | { kind: 'wait'; until: Promise<FetchOutcome> }
  | { kind: 'miss'; fetch: Fetch };

export type HeadersDecision =
  | { kind: 'store'; maxBytes: number }
  | {
      kind: 'stream';
      status: number;
      headers: HeaderMap;
      dropBody: boolean;
      cacheStatus: 'MISS' | 'HFM';
      /** Text body of an ESI profile: buffer it and process includes before delivery. */
      esi: boolean;
    }
  | { kind: 'refreshed'; object: CachedObject }
  | { kind: 'stale'; response: ClientResponse };

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

export class CacheEngine {
  readonly profile: Profile;
  readonly storage: MemoryStorage;
  readonly #clock: Clock;
  readonly #defaults: TtlDefaults;
  readonly #hfmMs: number;
  readonly #debug: boolean;
  readonly #healthy: () => boolean;
  readonly #maxFetchMs: number;
  readonly #onPurge: ((cmd: PurgeCommand) => void) | undefined;
  readonly #compression: CompressionPolicy | undefined;
  #keyExtras = false;
  readonly #inflight = new Map<string, Fetch>();
  readonly #hfm = new Map<string, number>();
  #nextId = 1;

  constructor(opts: CacheEngineOptions) {
    this.profile = opts.profile;
    this.storage = opts.storage;
    this.#clock = opts.clock ?? systemClock;
    this.#defaults = { ...VARNISH_DEFAULTS, ...opts.defaults };
    this.#hfmMs = (opts.hfmSeconds ?? 120) * 1000;
    this.#debug = opts.debugHeader ?? false;
    this.#healthy = opts.originHealthy ?? (() => true);
    this.#maxFetchMs = opts.maxFetchMs ?? 600_000;
    this.#onPurge = opts.onPurge;
    this.#compression = opts.compression;
  }

  static key(scheme: string, host: string, url: string): string {
    return `${scheme}://${host}${url}`;
  }

  receive(req: CacheRequest, opts: { coalesce?: boolean } = {}): Verdict {
    const d = this.profile.recv(req);
    switch (d.action) {
      case 'synth':
        return { kind: 'synth', response: synthetic(d.status, d.reason, 'SYNTH', this.#debug) };
      case 'purge': {
        const n = this.purge(d.command);
        this.#onPurge?.(d.command);
        const res = synthetic(200, `Purged ${n}`, 'PURGE', this.#debug);
        return { kind: 'synth', response: res };
      }
      case 'pass':
        return {
          kind: 'pass',
          origin: { method: req.method, url: req.url, headers: stripHopByHop(d.headers), forwardBody: true },
        };
      case 'hash':
        return this.#lookup(req, d, opts.coalesce ?? true);
    }
  }

  /**
   * The fresh hit `receive` would return for `req`, or undefined — without any other side effect
   * (no fetch, no busy marker, no eviction), so the caller can fall back to `receive` with the same
   * request. Anything but a fresh hit of the first matching variant (grace, stale, purge, pass, miss)
   * is undefined. The edge's HTTP/1.1 fast path serves what this returns.
   */
  peekFresh(req: CacheRequest): ClientResponse | undefined {
    const d = this.profile.recv(req);
    if (d.action !== 'hash') return undefined;
    const now = this.#clock.now();
    const key = CacheEngine.key(req.scheme, req.host, d.url) + (d.keyExtra ? `#${d.keyExtra}` : '');
    const lookupHeaders = this.#lookupHeaders(d.headers);
    for (const obj of this.storage.variants(key)) {
      if (variantId(lookupHeaders, obj.vary) !== obj.variant) continue;
      return remainingTtl(obj, now) > 0 ? this.#deliver(req, obj, now, 'HIT', 'none') : undefined;
    }
    return undefined;
  }

  #lookup(req: CacheRequest, d: Extract<RecvDecision, { action: 'hash' }>, coalesce: boolean): Verdict {
    const now = this.#clock.now();
    const key = CacheEngine.key(req.scheme, req.host, d.url) + (d.keyExtra ? `#${d.keyExtra}` : '');
    if (d.keyExtra) this.#keyExtras = true;
    const healthy = this.#healthy();
    const lookupHeaders = this.#lookupHeaders(d.headers);
    let stale: CachedObject | undefined;
    for (const obj of this.storage.variants(key)) {
      if (variantId(lookupHeaders, obj.vary) !== obj.variant) continue;
      const left = remainingTtl(obj, now);
      if (left > 0) return { kind: 'hit', response: this.#deliver(req, obj, now, 'HIT', 'none') };
      const beyond = -left;
      if (beyond >= Math.max(obj.grace, obj.keep, obj.staleIfError)) {
        this.storage.remove(obj);
        continue;
      }
      const grace = this.profile.effectiveGrace ? this.profile.effectiveGrace(obj.grace, healthy) : obj.grace;
      if (beyond < grace && !obj.mustRevalidate) {
        let revalidate: Fetch | undefined;
        if (!this.#inflight.has(key)) {
          revalidate = this.#newFetch(key, req, d, 'background', obj);
          this.#inflight.set(key, revalidate);
        }
        const response = this.#deliver(req, obj, now, 'STALE', healthy ? 'normal' : 'unlimited');
        return revalidate ? { kind: 'hit', response, revalidate } : { kind: 'hit', response };
      }
      stale = obj;
    }
    const hfmUntil = this.#hfm.get(key);
    if (hfmUntil !== undefined && hfmUntil > now) {
      return { kind: 'miss', fetch: this.#newFetch(key, req, d, 'hfm', undefined) };
    }
    if (hfmUntil !== undefined) this.#hfm.delete(key);
    let running = this.#inflight.get(key);
    if (running && now - running.startedAt > this.#maxFetchMs) {
      this.#settle(running, 'failed');
      running = undefined;
    }
    if (running && coalesce) {
      return { kind: 'wait', until: new Promise<FetchOutcome>((resolve) => running.waiters.push(resolve)) };
    }
    const fetch = this.#newFetch(key, req, d, 'miss', stale);
    if (!running) this.#inflight.set(key, fetch);
    return { kind: 'miss', fetch };
  }

  /** Request headers as used for variant selection (Accept-Encoding normalised, §1.8). */
  #lookupHeaders(h: HeaderMap): HeaderMap {
    const ae = normaliseAcceptEncoding(joined(h['accept-encoding']));
    const out = without(h, ['accept-encoding']);
    if (ae) out['accept-encoding'] = ae;
    return out;
  }

  #newFetch(
    key: string,
    req: CacheRequest,
    d: Extract<RecvDecision, { action: 'hash' }>,
    mode: Fetch['mode'],
    stale: CachedObject | undefined,
  ): Fetch {
    const headers = without(stripHopByHop(this.#lookupHeaders(d.headers)), FETCH_FILTERED);
    // ESI needs identity bodies to parse and splice (compression belongs to delivery).
    if (this.profile.esi) delete headers['accept-encoding'];
    // Conditional fetch with the object's validators, never the client's (§1.3); never for HFM.
    if (stale && mode !== 'hfm' && stale.status === 200) {
      const etag = first(stale.headers.etag);
      const lm = first(stale.headers['last-modified']);
      if (etag) headers['if-none-match'] = etag;
      if (lm) headers['if-modified-since'] = lm;
    }
    return {
      id: this.#nextId++,
      key,
      req,
      decision: d,
      origin: { method: 'GET', url: d.url, headers, forwardBody: false },
      mode,
      stale,
      invalidated: false,
      startedAt: this.#clock.now(),
      settled: false,
      waiters: [],
    };
  }

  /** The origin answered a miss/background fetch with these headers. */
  originHeaders(fetch: Fetch, status: number, rawHeaders: HeaderMap): HeadersDecision {
    const now = this.#clock.now();
    const headers = stripHopByHop(rawHeaders);
    if (status === 304 && fetch.stale && fetch.origin.headers['if-none-match'] !== undefined) {
      return this.#refresh(fetch, headers, now);
    }
    if (status === 304 && fetch.stale && fetch.origin.headers['if-modified-since'] !== undefined) {
      return this.#refresh(fetch, headers, now);
    }
    if (status >= 500 && fetch.stale && this.#staleUsable(fetch.stale, now)) {
      this.#settle(fetch, 'failed');
      return { kind: 'stale', response: this.#deliver(fetch.req, fetch.stale, now, 'STALE', 'unlimited') };
    }
    const life = computeLifetime(status === 304 ? 200 : status, headers, now, this.#defaults);
    const verdict = this.profile.backendResponse(fetch.req, fetch.decision, status, headers, life);
    const finalHeaders = verdict.headers ?? headers;
    if (!verdict.store || varyNames(finalHeaders.vary) === null) {
      this.#hfm.set(fetch.key, now + (verdict.hfmSeconds !== undefined ? verdict.hfmSeconds * 1000 : this.#hfmMs));
      this.#settle(fetch, 'uncacheable');
      const sanitized = sanitizeResponseHeaders(finalHeaders);
      const notModified = status === 200 && conditionalNotModified(fetch.req, sanitized, now);
      const cacheStatus = fetch.mode === 'hfm' ? 'HFM' : 'MISS';
      return {
        kind: 'stream',
        status: notModified ? 304 : status,
        headers: this.#finish(fetch.req, this.#debug ? { ...sanitized, 'x-cache': cacheStatus } : sanitized, {
          cacheStatus: 'HFM',
          grace: 'none',
          debug: finalHeaders['x-magento-debug'] !== undefined,
        }),
        dropBody: notModified || fetch.req.method === 'HEAD',
        cacheStatus,
        esi: this.profile.esi === true && /text/i.test(String(finalHeaders['content-type'] ?? '')),
      };
    }
    fetch.pending = { status: status === 304 ? 200 : status, headers: finalHeaders, life: verdict.life };
    return { kind: 'store', maxBytes: this.storage.maxObjectBytes };
  }

  /**
   * Encodings the body of a `store` decision will be kept in (empty when not compressible). The adapter
   * may compress off the event loop and hand the result to `originBody`; without it the engine compresses
   * synchronously.
   */
  encodingsFor(fetch: Fetch, body: Buffer): Encoding[] {
    const p = fetch.pending;
    if (!p || !compressible(this.#compression, p.status, p.headers, body.length)) return [];
    // ESI bodies are assembled per delivery: nothing to compress once.
    if (this.profile.esi === true && /text/i.test(String(p.headers['content-type'] ?? '')) && hasEsi(body)) return [];
    return offeredEncodings(this.#compression);
  }

  /** The full body of a `store` decision arrived. Returns the stored object (or an unstored one to deliver once). */
  originBody(fetch: Fetch, body: Buffer, encoded?: Encodings): CachedObject {
    const p = fetch.pending;
    if (!p) throw new Error('originBody without a store decision');
    const plain = this.#makeObject(fetch, p.status, p.headers, p.life, body);
    let obj = withEncodings(plain, encoded ?? encodeAllSync(body, this.encodingsFor(fetch, body)));
    let stored = !fetch.invalidated && this.storage.put(obj);
    // the encoded copies pushed it past maxObjectBytes: keep the identity body rather than nothing
    if (!stored && !fetch.invalidated && obj !== plain && this.storage.put(plain)) {
      obj = plain;
      stored = true;
    }
    if (stored) this.#hfm.delete(fetch.key);
    this.#settle(fetch, stored ? 'stored' : 'uncacheable');
    return obj;
  }

  /** The body was larger than `maxBytes` or the fetch was abandoned: release waiters, record HFM. */
  abandon(fetch: Fetch): void {
    if (fetch.settled) return;
    this.#hfm.set(fetch.key, this.#clock.now() + this.#hfmMs);
    this.#settle(fetch, 'uncacheable');
  }

  /** Transport failure or timeout: stale-if-error if allowed, else a synthetic error (503 Retry-After 5 by default). */
  originError(fetch: Fetch, status = 503): ClientResponse {
    const now = this.#clock.now();
    this.#settle(fetch, 'failed');
    if (fetch.stale && this.#staleUsable(fetch.stale, now)) {
      return this.#deliver(fetch.req, fetch.stale, now, 'STALE', 'unlimited');
    }
    return synthetic(status, status === 504 ? 'Gateway Timeout' : 'Backend fetch failed', 'ERROR', this.#debug);
  }

  /** Synthetic error for a pass whose origin failed (503 with Retry-After: 5, or 502/504). */
  errorResponse(status = 503): ClientResponse {
    return synthetic(
      status,
      status === 504 ? 'Gateway Timeout' : status === 502 ? 'Bad Gateway' : 'Backend fetch failed',
      'ERROR',
      this.#debug,
    );
  }

  /** Deliver a stored object to the client that fetched it (or a waiter). */
  deliver(req: CacheRequest, obj: CachedObject, cacheStatus: 'MISS' | 'HIT' = 'MISS'): ClientResponse {
    return this.#deliver(req, obj, this.#clock.now(), cacheStatus, 'none');
  }

  #deliver(
    req: CacheRequest,
    obj: CachedObject,
    now: number,
    status: 'HIT' | 'MISS' | 'STALE',
    grace: DeliveryInfo['grace'],
  ): ClientResponse {
    const r = deliverObject(req, obj, now, status, this.#debug, this.#compression);
    if (!this.profile.deliver) return r;
    return { ...r, headers: this.profile.deliver(req, r.headers, { cacheStatus: status, grace, debug: obj.debug }) };
  }

  #finish(req: CacheRequest, headers: HeaderMap, info: DeliveryInfo): HeaderMap {
    return this.profile.deliver ? this.profile.deliver(req, headers, info) : headers;
  }

  /**
   * Headers of a passed response; a successful unsafe method invalidates the target URI
   * (RFC 9111 §4.4, check 6.1.8).
   */
  passResponse(req: CacheRequest, status: number, headers: HeaderMap): HeaderMap {
    if (!SAFE_METHODS.has(req.method) && status < 400) {
      for (const scheme of ['http', 'https']) {
        const key = CacheEngine.key(scheme, req.host, req.url);
        this.storage.removeKey(key);
        this.#markInvalid(key);
      }
    }
    const out = sanitizeResponseHeaders(headers);
    return this.#finish(req, this.#debug ? { ...out, 'x-cache': 'PASS' } : out, {
      cacheStatus: 'PASS',
      grace: 'none',
      debug: headers['x-magento-debug'] !== undefined,
    });
  }

  /** Executes a purge; applies to fetches in flight too (spec §2.2 "stricter than Varnish"). Returns objects removed. */
  purge(cmd: PurgeCommand): number {
    let n = 0;
    switch (cmd.kind) {
      case 'url':
        for (const scheme of ['http', 'https']) {
          const key = CacheEngine.key(scheme, cmd.host, cmd.url);
          n += this.storage.removeKey(key);
          this.#markInvalid(key);
          this.#hfm.delete(key);
          if (this.#keyExtras) {
            for (const k of this.storage.keysOfHost(cmd.host)) if (k.startsWith(`${key}#`)) n += this.storage.removeKey(k);
          }
        }
        break;
      case 'host':
        for (const key of this.storage.keysOfHost(cmd.host)) n += this.storage.removeKey(key);
        for (const f of this.#inflight.values()) if (f.req.host === cmd.host) f.invalidated = true;
        break;
      case 'host-regex': {
        if (cmd.pattern.length > MAX_PURGE_PATTERN) return 0;
        let re: RegExp;
        try {
          re = new RegExp(cmd.pattern);
        } catch {
          return 0;
        }
        for (const key of this.storage.keysOfHost(cmd.host)) {
          for (const obj of [...this.storage.variants(key)]) {
            if (re.test(obj.url)) {
              this.storage.remove(obj);
              n++;
            }
          }
        }
        for (const f of this.#inflight.values()) if (f.req.host === cmd.host && re.test(f.decision.url)) f.invalidated = true;
        break;
      }
      case 'magento-pattern':
      case 'pool': {
        const field = cmd.kind === 'pool' ? 'x-pool' : 'x-magento-tags';
        const exactTags = cmd.kind === 'magento-pattern' ? magentoPatternTags(cmd.pattern) : undefined;
        if (exactTags) {
          for (const tag of exactTags) {
            for (const obj of this.storage.byTag(tag)) {
              if (obj.tagText?.split(',').includes(tag)) {
                this.storage.remove(obj);
                n++;
              }
            }
          }
        } else {
          if (cmd.pattern.length > MAX_PURGE_PATTERN * 8) return 0;
          let re: RegExp;
          try {
            re = new RegExp(cmd.pattern);
          } catch {
            return 0;
          }
          const all = cmd.pattern === '.*';
          for (const obj of [...this.storage.all()]) {
            const text = field === 'x-pool' ? (obj.headers['x-pool'] as string | undefined) : obj.tagText;
            if (text !== undefined && (all || re.test(text))) {
              this.storage.remove(obj);
              n++;
            }
          }
        }
        for (const f of this.#inflight.values()) f.invalidated = true;
        break;
      }
      case 'tags':
        for (const tag of cmd.tags) {
          for (const obj of this.storage.byTag(tag)) {
            this.storage.remove(obj);
            n++;
          }
        }
        // tags of in-flight responses are unknown yet: invalidate them all (safe: only costs a miss)
        for (const f of this.#inflight.values()) f.invalidated = true;
        break;
    }
    return n;
  }

  /** Number of fetches in flight (coalescing slots). */
  get inflightCount(): number {
    return this.#inflight.size;
  }

  #markInvalid(key: string): void {
    const f = this.#inflight.get(key);
    if (f) f.invalidated = true;
  }

  #staleUsable(obj: CachedObject, now: number): boolean {
    if (obj.invalidated || obj.mustRevalidate) return false;
    const beyond = -remainingTtl(obj, now);
    return beyond < Math.max(obj.grace, obj.staleIfError);
  }

  #refresh(fetch: Fetch, headers304: HeaderMap, now: number): HeadersDecision {
    const old = fetch.stale!;
    const merged: HeaderMap = { ...old.headers };
    for (const [k, v] of Object.entries(without(headers304, [...INTERNAL_RESPONSE_HEADERS, 'content-length', 'set-cookie']))) {
      if (v !== undefined) merged[k] = v;
    }
    const life = computeLifetime(200, merged, now, this.#defaults);
    // Same body as before: keep its encoded copies (a 304 cannot change the representation's bytes).
    const obj = withEncodings(this.#makeObject(fetch, old.status, merged, life, old.body, old), old.encodings);
    if (!fetch.invalidated && !old.invalidated) this.storage.put(obj);
    this.#settle(fetch, 'stored');
    return { kind: 'refreshed', object: obj };
  }

  #makeObject(
    fetch: Fetch,
    status: number,
    headers: HeaderMap,
    life: Lifetime,
    body: Buffer,
    tagsFrom?: CachedObject,
  ): CachedObject {
    const t = tagsFrom
      ? { tags: [...tagsFrom.tags], tagged: tagsFrom.tagged, magentoTags: tagsFrom.tagText }
      : extractTags(headers);
    const vary = varyNames(headers.vary) ?? [];
    const stored = without(
      headers,
      [...INTERNAL_RESPONSE_HEADERS, 'set-cookie', 'content-length', 'age'].filter((h) => h !== 'x-pool'),
    );
    let size = body.length + 256;
    for (const [k, v] of Object.entries(stored)) size += k.length + String(v).length;
    for (const tag of t.tags) size += tag.length + 16;
    return {
      key: fetch.key,
      host: fetch.req.host,
      url: fetch.decision.url,
      variant: variantId(this.#lookupHeaders(fetch.decision.headers), vary),
      vary,
      status,
      headers: stored,
      body,
      tOrigin: life.tOrigin,
      ttl: life.ttl,
      grace: life.grace,
      keep: life.keep,
      staleIfError: life.staleIfError,
      mustRevalidate: life.mustRevalidate,
      tags: t.tags,
      tagged: t.tagged,
      tagText: t.magentoTags,
      size,
      debug: (tagsFrom ? tagsFrom.debug : headers['x-magento-debug'] !== undefined) === true,
      esi: this.profile.esi === true && /text/i.test(String(headers['content-type'] ?? '')) && hasEsi(body),
      invalidated: false,
    };
  }

  #settle(fetch: Fetch, outcome: FetchOutcome): void {
    if (fetch.settled) return;
    fetch.settled = true;
    if (this.#inflight.get(fetch.key) === fetch) this.#inflight.delete(fetch.key);
    const waiters = fetch.waiters;
    fetch.waiters = [];
    for (const w of waiters) w(outcome);
  }
}

/**
 * Magento's exact purge shape `((^|,)T1(,|$))|((^|,)T2(,|$))…` → the tag list (index lookup);
 * undefined for any other pattern (regex fallback). Tags are Magento identifiers (no regex metacharacters).
 */
export function magentoPatternTags(pattern: string): string[] | undefined {
  const groups = pattern.split('|((^|,)');
  const tags: string[] = [];
  for (let i = 0; i < groups.length; i++) {
    const g = i === 0 ? groups[i]! : `((^|,)${groups[i]}`;
    const m = /^\(\(\^\|,\)([A-Za-z0-9_-]+)\(,\|\$\)\)$/.exec(g);
    if (!m) return undefined;
    tags.push(m[1]!);
  }
  return tags.length ? tags : undefined;
}
