/**
 * Persistent collections (IP, GLOBAL, SESSION, USER, RESOURCE via initcol): loaded at initcol,
 * written back at the end of the transaction with per-variable expiry (expirevar) and the
 * collection timeout (SecCollectionTimeout). The store is a contract so the edge can share it
 * across worker processes (packages/edge/src/waf-collections.ts, SQLite); `MemoryCollectionStore`
 * serves one process. Both share the merge below and pass one conformance suite
 * (packages/edge/src/waf-collections.test.ts).
 *
 * Merge rules (what `save` writes), against the record as stored *now*, not as it was at load —
 * other transactions (requests in flight, other workers) may have written it meanwhile:
 *   - only variables this transaction changed (`dirty`) are written; the others keep the stored value;
 *   - a variable changed by a relative setvar (`=+n`/`=-n`, recorded in `original`) gets the
 *     difference added to the stored value, never below 0 (ModSecurity 2's collection_store delta
 *     merge), so two workers counting the same IP both count;
 *   - expirevars set by this transaction are written; expired variables and records are dropped;
 *   - nothing changed → nothing written (CRS initcols IP and GLOBAL on every request; a benign
 *     request must cost no write). As in ModSecurity, the record's timeout is renewed by writes only.
 *
 * Example:
 *   const c = store.load('ip', '203.0.113.7_ua', now);      // at initcol
 *   c.original?.set('hits', c.values.get('hits')?.value ?? '0'); c.values.set('hits', { name: 'hits', value: '6' }); c.dirty.add('hits');
 *   store.save(c, 3600, now);                               // end of transaction
 */
import type { Arg } from '../body/types.ts';

export interface StoredCollection {
  name: string;
  key: string;
  /** lower-cased variable name → value */
  values: Map<string, Arg>;
  /** lower-cased variable name → expiry (ms since epoch) */
  expiry: Map<string, number>;
  /** variables changed in this transaction */
  dirty: Set<string>;
  /**
   * lower-cased variable name → its value before this transaction's first relative setvar on it
   * (`'0'` when it was unset). `load` returns it empty; the engine's relative setvar is to fill it
   * (Transaction.collectionSet). A changed variable not in it overwrites the stored value.
   */
  original?: Map<string, string>;
  /** Expiries as loaded (set by `load`): save writes only the ones this transaction changed. */
  loadedExpiry?: ReadonlyMap<string, number>;
}

export interface CollectionStore {
  load(collection: string, key: string, now: number): StoredCollection;
  /** Writes what the transaction changed (see the merge rules above); nothing if nothing changed. */
  save(c: StoredCollection, timeoutSeconds: number, now: number): void;
  /** Removes expired records (and the oldest past the store's bound); returns how many. */
  sweep?(now: number): number;
  /** Releases the store's resources; load/save after close are a fault. */
  close?(): void;
}

/** A stored record: what a store keeps per (collection, key). */
export interface CollectionRecord {
  values: Map<string, Arg>;
  /** lower-cased variable name → expiry (ms since epoch) */
  expiry: Map<string, number>;
  /** the whole record expires here (last write + SecCollectionTimeout) */
  expiresAt: number;
}

/** The transaction's view of a stored record (undefined: none): live variables only. */
export function collectionView(
  rec: CollectionRecord | undefined,
  collection: string,
  key: string,
  now: number,
): StoredCollection {
  const values = new Map<string, Arg>();
  const expiry = new Map<string, number>();
  if (rec && rec.expiresAt > now) {
    for (const [k, v] of rec.values) {
      const at = rec.expiry.get(k);
      if (at !== undefined && at <= now) continue;
      values.set(k, { name: v.name, value: v.value });
      if (at !== undefined) expiry.set(k, at);
    }
  }
  return { name: collection, key, values, expiry, dirty: new Set(), original: new Map(), loadedExpiry: new Map(expiry) };
}

/** Whether `save` has anything to write. */
export function collectionChanged(c: StoredCollection): boolean {
  if (c.dirty.size > 0) return true;
  for (const [k, at] of c.expiry) if (c.loadedExpiry?.get(k) !== at) return true;
  return false;
}

/** ModSecurity's atoi: leading integer, else 0. */
function toInt(s: string | undefined): number {
  const n = Number.parseInt(s ?? '', 10);
  return Number.isFinite(n) ? n : 0;
}

/**
 * The record to store: `prev` (the latest stored record, or undefined) with the transaction's
 * changes merged in, per the rules at the top of this file.
 */
export function mergeCollection(
  prev: CollectionRecord | undefined,
  c: StoredCollection,
  timeoutSeconds: number,
  now: number,
): CollectionRecord {
  const values = new Map<string, Arg>();
  const expiry = new Map<string, number>();
  if (prev && prev.expiresAt > now) {
    for (const [k, v] of prev.values) {
      const at = prev.expiry.get(k);
      if (at !== undefined && at <= now) continue;
      values.set(k, v);
      if (at !== undefined) expiry.set(k, at);
    }
  }
  for (const k of c.dirty) {
    const v = c.values.get(k);
    if (v === undefined) {
      values.delete(k);
      expiry.delete(k);
      continue;
    }
    const orig = c.original?.get(k);
    if (orig !== undefined) {
      // relative change: add our difference to whatever is stored now (0 when gone: expired or reset)
      const next = Math.max(0, toInt(values.get(k)?.value) + toInt(v.value) - toInt(orig));
      values.set(k, { name: v.name, value: String(next) });
    } else values.set(k, { name: v.name, value: v.value });
  }
  for (const [k, at] of c.expiry) {
    if (c.loadedExpiry?.get(k) === at) continue;
    if (at <= now) {
      values.delete(k);
      expiry.delete(k);
    } else if (values.has(k)) expiry.set(k, at);
  }
  return { values, expiry, expiresAt: now + timeoutSeconds * 1000 };
}

/**
 * Two transactions' changes to one record as one change set (`next` after `prev`, which may be
 * undefined and is updated in place), for a store that writes behind: merging the result gives what
 * merging `prev` and then `next` gives (except that a relative change is not clamped at 0 in between).
 */
export function composeChanges(prev: StoredCollection | undefined, next: StoredCollection): StoredCollection {
  const out = prev ?? {
    name: next.name,
    key: next.key,
    values: new Map<string, Arg>(),
    expiry: new Map<string, number>(),
    dirty: new Set<string>(),
    original: new Map<string, string>(),
    // empty: every expiry in the set is a change to write
    loadedExpiry: new Map<string, number>(),
  };
  out.original ??= new Map();
  const original = out.original;
  for (const k of next.dirty) {
    const v = next.values.get(k);
    const had = out.dirty.has(k);
    out.dirty.add(k);
    if (v === undefined) {
      out.values.delete(k);
      out.expiry.delete(k);
      original.delete(k);
      continue;
    }
    const orig = next.original?.get(k);
    if (orig === undefined || !had) {
      // absolute, or the first change: as it is
      out.values.set(k, { name: v.name, value: v.value });
      if (orig === undefined) original.delete(k);
      else original.set(k, orig);
      continue;
    }
    // a relative change after a pending one: add it (a pending relative one stays relative)
    const sum = toInt(out.values.get(k)?.value) + toInt(v.value) - toInt(orig);
    out.values.set(k, { name: v.name, value: String(original.has(k) ? sum : Math.max(0, sum)) });
  }
  for (const [k, at] of next.expiry) if (next.loadedExpiry?.get(k) !== at) out.expiry.set(k, at);
  return out;
}

/**
 * One process's collections, bounded to `maxRecords` (the oldest written record goes first).
 * Concurrent transactions of this process merge like the shared store's.
 */
export class MemoryCollectionStore implements CollectionStore {
  private readonly data = new Map<string, CollectionRecord>();
  private readonly maxRecords: number;

  constructor(maxRecords = 100_000) {
    this.maxRecords = maxRecords;
  }

  load(collection: string, key: string, now: number): StoredCollection {
    return collectionView(this.data.get(`${collection}\0${key}`), collection, key, now);
  }

  save(c: StoredCollection, timeoutSeconds: number, now: number): void {
    if (!collectionChanged(c)) return;
    const id = `${c.name}\0${c.key}`;
    const rec = mergeCollection(this.data.get(id), c, timeoutSeconds, now);
    // re-insert so iteration order is write order: the first key is the least recently written
    this.data.delete(id);
    if (this.data.size >= this.maxRecords) {
      const first = this.data.keys().next();
      if (!first.done) this.data.delete(first.value);
    }
    this.data.set(id, rec);
  }

  sweep(now: number): number {
    let n = 0;
    for (const [id, rec] of this.data)
      if (rec.expiresAt <= now) {
        this.data.delete(id);
        n++;
      }
    return n;
  }

  close(): void {
    this.data.clear();
  }
}
