import type { Encodings } from './compress.ts';
import type { HeaderMap } from './headers.ts';

/**
 * A stored response. Immutable once stored except for `headers`/lifetime refreshed by a 304
 * (the store replaces the whole object then). Times are epoch ms, lifetimes seconds.
 */
export interface CachedObject {
  /** Primary key: scheme + host + key URL. */
  readonly key: string;
  readonly host: string;
  /** The URL the key was built from (origin-form, after profile normalisation). */
  readonly url: string;
  /** Variant id under the key (see vary.ts). */
  readonly variant: string;
  /** Request header names the variant depends on. */
  readonly vary: readonly string[];
  readonly status: number;
  readonly headers: HeaderMap;
  readonly body: Buffer;
  /** Compressed copies of `body` made once at store time (compress.ts); counted in `size`. */
  readonly encodings?: Encodings;
  readonly tOrigin: number;
  readonly ttl: number;
  readonly grace: number;
  readonly keep: number;
  readonly staleIfError: number;
  readonly mustRevalidate: boolean;
  readonly tags: readonly string[];
  readonly tagged: boolean;
  /** Stored X-Magento-Tags text, for regex purges. */
  readonly tagText: string | undefined;
  /** Bytes charged against the storage bound. */
  readonly size: number;
  /** The origin sent X-Magento-Debug (Magento keeps Age then). */
  readonly debug: boolean;
  /** Body has ESI markup to process at delivery. */
  readonly esi: boolean;
  /** Set when a purge removed it (an in-flight delivery may still hold a reference). */
  invalidated: boolean;
}

/** Seconds left of freshness at `now` (negative once expired). */
export function remainingTtl(o: CachedObject, now: number): number {
  return (o.tOrigin + o.ttl * 1000 - now) / 1000;
}

export function ageSeconds(o: CachedObject, now: number): number {
  return Math.max(0, Math.floor((now - o.tOrigin) / 1000));
}
