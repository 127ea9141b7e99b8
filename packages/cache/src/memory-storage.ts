import type { CachedObject } from './object.ts';
import { TagIndex } from './tags.ts';

/**
 * Memory storage with a byte bound and LRU eviction by primary key (all variants of a key are
 * evicted together, like a Varnish objhead). Also keeps the tag and host indexes so purges are
 * O(matching objects). Expired objects (beyond ttl+grace+keep) are removed lazily on lookup and
 * eagerly when space is needed.
 */
export interface StorageStats {
  objects: number;
  keys: number;
  bytes: number;
  maxBytes: number;
  evictions: number;
}

export class MemoryStorage {
  readonly maxBytes: number;
  readonly maxObjectBytes: number;
  /** key → variants; Map order = LRU order (oldest first). */
  readonly #keys = new Map<string, CachedObject[]>();
  readonly #tags = new TagIndex<CachedObject>();
  readonly #hosts = new Map<string, Set<string>>();
  #bytes = 0;
  #evictions = 0;

  constructor(opts: { maxBytes: number; maxObjectBytes?: number }) {
    this.maxBytes = opts.maxBytes;
    this.maxObjectBytes = Math.min(opts.maxObjectBytes ?? opts.maxBytes / 4, opts.maxBytes);
  }

  /** Variants stored under a key (touches LRU). */
  variants(key: string): readonly CachedObject[] {
    const v = this.#keys.get(key);
    if (!v) return [];
    this.#keys.delete(key);
    this.#keys.set(key, v);
    return v;
  }

  /** Stores (or replaces the same variant). Returns false when the object is too large. */
  put(obj: CachedObject): boolean {
    if (obj.size > this.maxObjectBytes) return false;
    const existing = this.#keys.get(obj.key) ?? [];
    const same = existing.find((o) => o.variant === obj.variant);
    if (same) this.#removeObject(same);
    this.#makeRoom(obj.size);
    const list = this.#keys.get(obj.key) ?? [];
    this.#keys.delete(obj.key);
    list.push(obj);
    this.#keys.set(obj.key, list);
    this.#bytes += obj.size;
    this.#tags.add(obj, obj.tags);
    let hk = this.#hosts.get(obj.host);
    if (!hk) {
      hk = new Set();
      this.#hosts.set(obj.host, hk);
    }
    hk.add(obj.key);
    return true;
  }

  remove(obj: CachedObject): void {
    this.#removeObject(obj);
  }

  removeKey(key: string): number {
    const list = [...(this.#keys.get(key) ?? [])];
    for (const o of list) this.#removeObject(o);
    return list.length;
  }

  byTag(tag: string): CachedObject[] {
    return this.#tags.members(tag);
  }

  /** Every key stored for a host. */
  keysOfHost(host: string): string[] {
    return [...(this.#hosts.get(host) ?? [])];
  }

  *all(): Iterable<CachedObject> {
    for (const list of this.#keys.values()) yield* list;
  }

  stats(): StorageStats {
    let objects = 0;
    for (const l of this.#keys.values()) objects += l.length;
    return { objects, keys: this.#keys.size, bytes: this.#bytes, maxBytes: this.maxBytes, evictions: this.#evictions };
  }

  #makeRoom(size: number): void {
    while (this.#bytes + size > this.maxBytes && this.#keys.size > 0) {
      const oldest = this.#keys.keys().next().value as string;
      for (const o of [...(this.#keys.get(oldest) ?? [])]) this.#removeObject(o);
      this.#evictions++;
    }
  }

  #removeObject(obj: CachedObject): void {
    const list = this.#keys.get(obj.key);
    if (!list) return;
    const i = list.indexOf(obj);
    if (i < 0) return;
    list.splice(i, 1);
    obj.invalidated = true;
    this.#bytes -= obj.size;
    this.#tags.remove(obj, obj.tags);
    if (list.length === 0) {
      this.#keys.delete(obj.key);
      const hk = this.#hosts.get(obj.host);
      hk?.delete(obj.key);
      if (hk && hk.size === 0) this.#hosts.delete(obj.host);
    }
  }
}
