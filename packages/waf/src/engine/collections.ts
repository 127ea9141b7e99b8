/**
 * Persistent collections (IP, GLOBAL, SESSION, USER, RESOURCE via initcol): loaded at initcol,
 * written back at the end of the transaction with per-variable expiry (expirevar) and the
 * collection timeout (SecCollectionTimeout). The store is a contract so the edge can share it
 * across workers; `MemoryCollectionStore` serves one process.
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
}

export interface CollectionStore {
  load(collection: string, key: string, now: number): StoredCollection;
  save(c: StoredCollection, timeoutSeconds: number, now: number): void;
}

interface Record_ {
  values: Map<string, Arg>;
  expiry: Map<string, number>;
  expiresAt: number;
}

export class MemoryCollectionStore implements CollectionStore {
  private readonly data = new Map<string, Record_>();
  private readonly maxRecords: number;

  constructor(maxRecords = 100_000) {
    this.maxRecords = maxRecords;
  }

  load(collection: string, key: string, now: number): StoredCollection {
    const id = `${collection}\0${key}`;
    const rec = this.data.get(id);
    const values = new Map<string, Arg>();
    const expiry = new Map<string, number>();
    if (rec && rec.expiresAt > now) {
      for (const [k, v] of rec.values) {
        const at = rec.expiry.get(k);
        if (at !== undefined && at <= now) continue;
        values.set(k, { ...v });
        if (at !== undefined) expiry.set(k, at);
      }
    }
    return { name: collection, key, values, expiry, dirty: new Set() };
  }

  save(c: StoredCollection, timeoutSeconds: number, now: number): void {
    const id = `${c.name}\0${c.key}`;
    if (this.data.size >= this.maxRecords && !this.data.has(id)) {
      // drop the oldest insertion to bound memory
      const first = this.data.keys().next();
      if (!first.done) this.data.delete(first.value);
    }
    const prev = this.data.get(id);
    const values = prev && prev.expiresAt > now ? new Map(prev.values) : new Map<string, Arg>();
    const expiry = prev && prev.expiresAt > now ? new Map(prev.expiry) : new Map<string, number>();
    // merge only what this transaction changed, so concurrent transactions keep their updates
    for (const k of c.dirty) {
      const v = c.values.get(k);
      if (v === undefined) {
        values.delete(k);
        expiry.delete(k);
      } else values.set(k, v);
    }
    for (const [k, at] of c.expiry) expiry.set(k, at);
    this.data.set(id, { values, expiry, expiresAt: now + timeoutSeconds * 1000 });
  }
}
