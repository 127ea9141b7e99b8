import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Logger, silentLogger, TriplaneError } from '@triplane/kernel';
import {
  type CollectionRecord,
  type CollectionStore,
  collectionChanged,
  collectionView,
  composeChanges,
  mergeCollection,
  type StoredCollection,
} from '@triplane/waf/engine/collections';
import Database from 'better-sqlite3';

/**
 * The WAF's persistent collections (IP, GLOBAL, SESSION, … via initcol) shared by every edge worker
 * process of a host: one SQLite file (STATE_DIR/waf/collections.db) in WAL mode that the primary
 * creates and sweeps and each worker opens. So CRS's DoS (912) and reputation (910) counters see all
 * of an IP's requests, whichever worker the kernel gave its connection, and survive a restart.
 *
 * Why SQLite (better-sqlite3): the engine's store contract is synchronous (initcol runs inside a rule
 * phase); better-sqlite3 is synchronous, an indexed read costs a few µs, and WAL lets readers run
 * while one worker writes. The alternatives: the primary as a store over IPC is asynchronous (the
 * contract isn't) and puts a round trip on every request; shared memory needs a native addon.
 *
 * Layout: one row per (collection, key): the variables as JSON `[[lname, name, value, expiresAt|0],…]`
 * and the record's expiry (last write + SecCollectionTimeout), indexed for the sweep.
 *
 * Writes: `save` writes nothing unless the transaction changed something (a benign CRS request changes
 * nothing). Changes are written behind, `flushMs` (5 ms) later, all of them in one IMMEDIATE
 * transaction that re-reads each row and merges (collections.ts: only changed variables; relative
 * setvars add their difference), so concurrent writers don't lose each other's increments, and a
 * flood of requests that each bump a DoS counter costs one commit per 5 ms, not one per request
 * (a commit is ~30-100 µs of CPU). This process's loads see its pending changes at once; other
 * workers within `flushMs`.
 *
 * Reads: CRS initcols GLOBAL and IP on every request, and a SELECT on a WAL database costs ~10 µs of
 * CPU (the shared-memory read locks), 20× a memory lookup. So each process caches what it read, valid
 * while nobody wrote: every writer, after its commit, writes a fresh 8-byte token into the version
 * file beside the database (`<file>-version`); a load reads the token first (one pread) and drops the
 * cache when it changed. Reading the token before the row, and writers writing it after the commit,
 * means a cached row is never older than the last token seen. Cache entries also live at most
 * `cacheMs` (1 s), so a write by another tool (sqlite3 deleting a ban) shows within a second.
 *
 * Durability: `synchronous=OFF` — counters are disposable, a commit must not wait for the disk. If an
 * OS crash leaves the file corrupt, the primary moves it aside at the next start and begins empty.
 *
 * Faults (disk full, lock held past `busyTimeoutMs`): the request goes on without the collection
 * (fail open: an empty load, a dropped write), logged at most every 10 s. Never thrown to the engine.
 *
 * Example:
 *   const store = SqliteCollectionStore.open('/var/lib/triplane/edge/waf/collections.db', { create: true });
 *   const waf = Waf.fromFile(rules, {}, { store });
 */
export interface SqliteCollectionStoreOptions {
  /** Create the file (and its directory) when missing; the primary does, workers open what exists. */
  create?: boolean;
  /** Records kept at most; the sweep deletes the ones expiring soonest beyond this. Default 200,000. */
  maxRecords?: number;
  /** Largest record written (JSON bytes); bigger writes are dropped and logged. Default 64 KiB. */
  maxRecordBytes?: number;
  /** How long a write waits for another worker's write lock before it is dropped. Default 200 ms. */
  busyTimeoutMs?: number;
  /** Longest a read is served from this process's cache while the version token is unchanged. Default 1000 ms; 0: no cache. */
  cacheMs?: number;
  /** Changes are written this long after the first unwritten one. Default 5 ms; 0: in `save` itself. */
  flushMs?: number;
  logger?: Logger;
}

type Row = { data: string; expires_at: number };
/** Changes saved, not yet written. */
type Pending = { change: StoredCollection; timeoutSeconds: number; now: number };
type Encoded = [lname: string, name: string, value: string, expiresAt: number][];

const SCHEMA = `
CREATE TABLE IF NOT EXISTS waf_collection (
  coll TEXT NOT NULL,
  key TEXT NOT NULL,
  data TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (coll, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS waf_collection_expires ON waf_collection (expires_at);
`;

/** Rows deleted per sweep transaction: each batch holds the write lock only briefly. */
const SWEEP_BATCH = 2000;
/** Read-cache entries per process; past this the cache starts over. */
const CACHE_MAX = 10_000;

/** A row that doesn't decode (written by something else) reads as missing, so the next write replaces it. */
function decode(row: Row | undefined): CollectionRecord | undefined {
  if (!row) return undefined;
  const values = new Map<string, { name: string; value: string }>();
  const expiry = new Map<string, number>();
  let vars: unknown;
  try {
    vars = JSON.parse(row.data);
  } catch {
    return undefined;
  }
  if (!Array.isArray(vars)) return undefined;
  for (const v of vars as Encoded) {
    if (!Array.isArray(v) || typeof v[0] !== 'string' || typeof v[2] !== 'string') continue;
    const [lname, name, value, at] = v;
    values.set(lname, { name: String(name), value });
    if (typeof at === 'number' && at > 0) expiry.set(lname, at);
  }
  return { values, expiry, expiresAt: row.expires_at };
}

function encode(rec: CollectionRecord): string {
  const out: Encoded = [];
  for (const [lname, v] of rec.values) out.push([lname, v.name, v.value, rec.expiry.get(lname) ?? 0]);
  return JSON.stringify(out);
}

function isCorrupt(e: unknown): boolean {
  const code = (e as { code?: string }).code ?? '';
  return code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB';
}

export class SqliteCollectionStore implements CollectionStore {
  readonly file: string;
  readonly #db: Database.Database;
  readonly #log: Logger;
  readonly #maxRecords: number;
  readonly #maxRecordBytes: number;
  readonly #get: Database.Statement<[string, string], Row>;
  readonly #put: Database.Statement<[string, string, string, number]>;
  readonly #del: Database.Statement<[string, string]>;
  readonly #write: Database.Transaction<(batch: Pending[]) => void>;
  readonly #flushMs: number;
  /** `collection\0key` → changes saved, not yet written */
  readonly #pending = new Map<string, Pending>();
  #timer: NodeJS.Timeout | undefined;
  #faults = 0;
  #lastFaultLog = 0;
  /** The version file (see "Reads" above); its token as last seen, and since when. */
  readonly #verFd: number;
  readonly #seen = Buffer.alloc(8);
  readonly #token = Buffer.alloc(8);
  readonly #out = Buffer.alloc(8);
  readonly #mine = randomBytes(4).readUInt32LE();
  #seq = 0;
  #seenAt = 0;
  readonly #cacheMs: number;
  /** `collection\0key` → the record read (null: none stored) */
  readonly #cache = new Map<string, CollectionRecord | null>();

  private constructor(file: string, db: Database.Database, verFd: number, o: SqliteCollectionStoreOptions) {
    this.file = file;
    this.#db = db;
    this.#verFd = verFd;
    this.#cacheMs = o.cacheMs ?? 1000;
    this.#flushMs = o.flushMs ?? 5;
    this.#log = o.logger ?? silentLogger();
    this.#maxRecords = o.maxRecords ?? 200_000;
    this.#maxRecordBytes = o.maxRecordBytes ?? 64 * 1024;
    this.#get = db.prepare('SELECT data, expires_at FROM waf_collection WHERE coll = ? AND key = ?');
    this.#put = db.prepare(
      'INSERT INTO waf_collection (coll, key, data, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (coll, key) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at',
    );
    this.#del = db.prepare('DELETE FROM waf_collection WHERE coll = ? AND key = ?');
    this.#write = db.transaction((batch: Pending[]) => {
      for (const { change: c, timeoutSeconds, now } of batch) {
        const rec = mergeCollection(this.#read(c.name, c.key), c, timeoutSeconds, now);
        if (rec.values.size === 0) {
          this.#del.run(c.name, c.key);
          continue;
        }
        const data = encode(rec);
        if (data.length > this.#maxRecordBytes) {
          const reason = `record ${c.name}:${c.key} too large (${data.length} bytes)`;
          this.#fault('save', new TriplaneError('TRIPLANE_ERR_WAF_COLLECTION', reason));
          continue;
        }
        this.#put.run(c.name, c.key, data, rec.expiresAt);
      }
    });
  }

  /**
   * Opens (with `create`: creates) the store. Throws TRIPLANE_ERR_WAF_COLLECTION when the file can't
   * be opened; a corrupt file is moved aside (`<file>.corrupt-<time>`) and replaced when `create`.
   */
  static open(file: string, o: SqliteCollectionStoreOptions = {}): SqliteCollectionStore {
    const connect = () => {
      const db = new Database(file, { fileMustExist: !o.create, timeout: o.busyTimeoutMs ?? 200 });
      try {
        if (o.create) {
          db.pragma('journal_mode = WAL');
          db.exec(SCHEMA);
        } else if (db.pragma('journal_mode', { simple: true }) !== 'wal') {
          throw new TriplaneError('TRIPLANE_ERR_WAF_COLLECTION', `${file} is not a collection store (not in WAL mode)`);
        }
        db.pragma('synchronous = OFF');
        // keep the WAL file from growing past a few MiB once checkpointed
        db.pragma('journal_size_limit = 4194304');
        // not O_APPEND (it would make the positioned token writes append)
        if (o.create) closeSync(openSync(`${file}-version`, 'a', 0o600));
        const verFd = openSync(`${file}-version`, 'r+');
        return new SqliteCollectionStore(file, db, verFd, o);
      } catch (e) {
        db.close();
        throw e;
      }
    };
    try {
      if (o.create) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      try {
        return connect();
      } catch (e) {
        if (!o.create || !isCorrupt(e)) throw e;
        const aside = `${file}.corrupt-${Date.now()}`;
        renameSync(file, aside);
        for (const ext of ['-wal', '-shm']) rmSync(file + ext, { force: true });
        o.logger?.warn({ file, aside }, 'WAF collection store was corrupt: moved aside, starting empty');
        return connect();
      }
    } catch (e) {
      if (e instanceof TriplaneError) throw e;
      throw new TriplaneError(
        'TRIPLANE_ERR_WAF_COLLECTION',
        `cannot open the WAF collection store ${file}: ${(e as Error).message}`,
        { file },
        { cause: e },
      );
    }
  }

  load(collection: string, key: string, now: number): StoredCollection {
    try {
      // closed: fail open, and never touch the version fd (its number may belong to another file now)
      if (!this.#db.open) throw new TriplaneError('TRIPLANE_ERR_WAF_COLLECTION', 'collection store closed');
      if (this.#cacheMs > 0) this.#checkVersion();
      else this.#cache.clear();
      const id = `${collection}\0${key}`;
      let rec = this.#cache.get(id);
      if (rec === undefined) {
        rec = this.#read(collection, key) ?? null;
        if (this.#cache.size >= CACHE_MAX) this.#cache.clear();
        this.#cache.set(id, rec);
      }
      // this process's changes not written yet
      const p = this.#pending.get(id);
      if (p) return collectionView(mergeCollection(rec ?? undefined, p.change, p.timeoutSeconds, p.now), collection, key, now);
      return collectionView(rec ?? undefined, collection, key, now);
    } catch (e) {
      this.#fault('load', e);
      return collectionView(undefined, collection, key, now);
    }
  }

  save(c: StoredCollection, timeoutSeconds: number, now: number): void {
    if (!collectionChanged(c)) return;
    if (!this.#db.open) {
      this.#fault('save', new TriplaneError('TRIPLANE_ERR_WAF_COLLECTION', 'collection store closed'));
      return;
    }
    const id = `${c.name}\0${c.key}`;
    const p = this.#pending.get(id);
    this.#pending.set(id, { change: composeChanges(p?.change, c), timeoutSeconds, now });
    if (this.#flushMs <= 0) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), this.#flushMs).unref();
  }

  /** Writes the pending changes now (the timer does it `flushMs` after a save; close does too). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.size === 0) return;
    const batch = [...this.#pending.values()];
    this.#pending.clear();
    try {
      this.#write.immediate(batch);
      this.#wrote();
    } catch (e) {
      this.#fault('save', e);
    }
  }

  /** Deletes expired records, then the ones expiring soonest past `maxRecords`; in short batches. */
  sweep(now: number): number {
    if (!this.#db.open) return 0;
    this.flush();
    let n = 0;
    const expired = this.#db.prepare(
      'DELETE FROM waf_collection WHERE (coll, key) IN (SELECT coll, key FROM waf_collection WHERE expires_at <= ? LIMIT ?)',
    );
    for (let r = expired.run(now, SWEEP_BATCH).changes; ; r = expired.run(now, SWEEP_BATCH).changes) {
      n += r;
      if (r < SWEEP_BATCH) break;
    }
    const count = (this.#db.prepare('SELECT count(*) AS n FROM waf_collection').get() as { n: number }).n;
    const oldest = this.#db.prepare(
      'DELETE FROM waf_collection WHERE (coll, key) IN (SELECT coll, key FROM waf_collection ORDER BY expires_at LIMIT ?)',
    );
    for (let over = count - this.#maxRecords; over > 0; ) {
      const r = oldest.run(Math.min(over, SWEEP_BATCH)).changes;
      n += r;
      over -= r;
      if (r === 0) break;
    }
    if (n > 0) this.#wrote();
    return n;
  }

  /** Records stored (expired ones not yet swept included). */
  size(): number {
    return (this.#db.prepare('SELECT count(*) AS n FROM waf_collection').get() as { n: number }).n;
  }

  /** Faults since open (failed loads and dropped writes). */
  get faults(): number {
    return this.#faults;
  }

  close(): void {
    if (!this.#db.open) return;
    this.flush();
    this.#db.close();
    closeSync(this.#verFd);
  }

  /** After a commit: a new token tells the other processes their cached reads are stale. */
  #wrote(): void {
    this.#cache.clear();
    this.#seq = (this.#seq + 1) >>> 0;
    this.#out.writeUInt32LE(this.#mine, 0);
    this.#out.writeUInt32LE(this.#seq, 4);
    try {
      writeSync(this.#verFd, this.#out, 0, 8, 0);
    } catch (e) {
      this.#fault('save', e);
    }
  }

  /** Before a read: drop the cache when another process wrote (or it is older than cacheMs). */
  #checkVersion(): void {
    const now = Date.now();
    let same = now - this.#seenAt < this.#cacheMs;
    const n = readSync(this.#verFd, this.#token, 0, 8, 0);
    if (n < 8) this.#token.fill(0, n);
    if (same && !this.#token.equals(this.#seen)) same = false;
    if (same) return;
    this.#cache.clear();
    this.#token.copy(this.#seen);
    this.#seenAt = now;
  }

  #read(collection: string, key: string): CollectionRecord | undefined {
    return decode(this.#get.get(collection, key));
  }

  #fault(op: 'load' | 'save', e: unknown): void {
    this.#faults++;
    const now = Date.now();
    if (now - this.#lastFaultLog < 10_000) return;
    this.#lastFaultLog = now;
    this.#log.error(
      { err: e, op, file: this.file, faults: this.#faults },
      op === 'load'
        ? 'WAF collection store: read failed; the request runs without the stored collection'
        : 'WAF collection store: write dropped',
    );
  }
}
