import { createHash, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * HTTP Basic auth in front of a site (`basicAuth` in the site config; staging environments
 * protected through PUT /environments/{id}/protection). The edge knows only the scrypt hash
 * (`scrypt:N:r:p:salt:key`, packages/spec edge-snapshot.ts BASIC_AUTH_HASH_PATTERN, validated by
 * config.ts), never the password.
 *
 * Cost: one scrypt is ~50 ms of CPU and 32 MiB at N=2^15 — far too much per request. So a
 * verified `Authorization` value is remembered: a bounded LRU keyed by the SHA-256 of the header
 * value (the header itself is never kept), per site and per hash (a new password or a new user
 * gets a new gate, so nothing stale survives a config change). Only a client's first request
 * pays for scrypt; later ones cost a hash and a map lookup. Failures are remembered the same way
 * (a browser repeats the same wrong credentials), and at most MAX_IN_FLIGHT scrypt runs go at
 * once per site — beyond that the request is answered `busy` (503) instead of queueing, so a
 * flood of guesses can't pile up CPU and memory behind the storefronts on this edge.
 * Comparisons are constant-time: the user by SHA-256 digest, the key with timingSafeEqual; a
 * wrong user still costs one scrypt, so timing doesn't tell whether the user exists.
 */
export interface BasicAuthSettings {
  realm: string;
  user: string;
  hash: string;
}

export type BasicAuthVerdict = 'ok' | 'denied' | 'busy';

const MAX_OK = 1024;
const MAX_DENIED = 256;
const MAX_IN_FLIGHT = 4;
/** Longer headers are refused unread: base64 of a 64-byte user and a 200-character password (UTF-8) fits easily. */
const MAX_HEADER = 1024;

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest();

interface ScryptParams {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

/** `scrypt:N:r:p:salt:key` → parameters; undefined when malformed (config.ts has already checked the pattern). */
export function parseScryptHash(hash: string): ScryptParams | undefined {
  const m = /^scrypt:(\d+):(\d+):(\d+):([A-Za-z0-9+/]+={0,2}):([A-Za-z0-9+/]+={0,2})$/.exec(hash);
  if (!m) return undefined;
  const N = Number(m[1]);
  const r = Number(m[2]);
  const p = Number(m[3]);
  const key = Buffer.from(m[5] as string, 'base64');
  if (N < 2 || (N & (N - 1)) !== 0 || N > 131072 || r < 1 || r > 16 || p < 1 || p > 4 || key.length < 16) return undefined;
  return { N, r, p, salt: Buffer.from(m[4] as string, 'base64'), key };
}

/** Remembers up to `max` digests, least recently used out first (Map keeps insertion order). */
class DigestLru {
  readonly #m = new Map<string, true>();
  readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  has(k: string): boolean {
    if (!this.#m.delete(k)) return false;
    this.#m.set(k, true);
    return true;
  }
  add(k: string): void {
    this.#m.delete(k);
    this.#m.set(k, true);
    if (this.#m.size > this.max) this.#m.delete(this.#m.keys().next().value as string);
  }
  get size(): number {
    return this.#m.size;
  }
}

export class BasicAuthGate {
  readonly settings: BasicAuthSettings;
  /** The `WWW-Authenticate` value of a 401. */
  readonly challenge: string;
  readonly #params: ScryptParams;
  readonly #userDigest: Buffer;
  readonly #ok = new DigestLru(MAX_OK);
  readonly #denied = new DigestLru(MAX_DENIED);
  readonly #inFlight = new Map<string, Promise<boolean>>();
  /** scrypt runs so far (tests check that only the first request pays). */
  scryptRuns = 0;

  constructor(settings: BasicAuthSettings) {
    const params = parseScryptHash(settings.hash);
    if (!params) throw new Error('basicAuth.hash: not an scrypt hash'); // config.ts validated it: a fault
    this.settings = settings;
    this.#params = params;
    this.#userDigest = sha256(settings.user);
    this.challenge = `Basic realm="${settings.realm}", charset="UTF-8"`;
  }

  /** Whether these settings would build this same gate (compile.ts keeps the gate, and its cache, across reloads). */
  sameAs(s: BasicAuthSettings): boolean {
    return s.realm === this.settings.realm && s.user === this.settings.user && s.hash === this.settings.hash;
  }

  /** Checks an `Authorization` request header value. */
  async verify(header: string | undefined): Promise<BasicAuthVerdict> {
    if (header === undefined || header.length > MAX_HEADER) return 'denied';
    const m = /^basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(header);
    if (!m) return 'denied';
    const digest = sha256(header).toString('base64');
    if (this.#ok.has(digest)) return 'ok';
    if (this.#denied.has(digest)) return 'denied';
    let pending = this.#inFlight.get(digest);
    if (!pending) {
      if (this.#inFlight.size >= MAX_IN_FLIGHT) return 'busy';
      pending = this.#check(m[1] as string).finally(() => this.#inFlight.delete(digest));
      this.#inFlight.set(digest, pending);
    }
    const good = await pending;
    if (good) this.#ok.add(digest);
    else this.#denied.add(digest);
    return good ? 'ok' : 'denied';
  }

  async #check(b64: string): Promise<boolean> {
    const decoded = Buffer.from(b64, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = colon === -1 ? decoded : decoded.slice(0, colon);
    const password = colon === -1 ? '' : decoded.slice(colon + 1);
    const userOk = colon !== -1 && timingSafeEqual(sha256(user), this.#userDigest);
    const p = this.#params;
    this.scryptRuns++;
    const key = await new Promise<Buffer>((resolve, reject) =>
      // async scrypt runs on the libuv pool: the event loop keeps serving while it works
      scrypt(password.normalize('NFKC'), p.salt, p.key.length, { N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r }, (err, k) =>
        err ? reject(err) : resolve(k),
      ),
    );
    return timingSafeEqual(key, p.key) && userOk;
  }
}
