import { TriplaneError } from '@triplane/kernel';

/**
 * Renames (or drops) the entries of a tar stream on the fly, without holding an entry in
 * memory: what `backup.export` needs to turn restic's `dump --archive tar` output (absolute
 * paths of the app server: `home/…/volumes/<pod>-wp-content/_data/uploads/…`) into a portable
 * archive (`wp-content/uploads/…`). No tar library is installed (tar-stream would be the
 * choice), and GNU tar cannot rewrite an archive it reads from a pipe, so this is a small
 * reader/writer for what restic 0.14 (Go's archive/tar) writes: ustar headers (name split over
 * prefix+name), PAX `x` headers (long paths, big sizes, xattrs) and, defensively, GNU `L`/`K`
 * long names and base-256 numbers.
 *
 *   for await (const chunk of renameTarEntries(restic.dumpTar(id), (name) => name === 'db.sql' ? name : null)) out.write(chunk);
 *
 * The output has no end-of-archive blocks, so several rewritten streams can be concatenated;
 * the caller writes `TAR_END` once at the end. A truncated or malformed input throws
 * `TRIPLANE_ERR_BACKUP_FAILED` (never a silently short archive).
 */
export type RenameFn = (name: string, type: string) => string | null;

const BLOCK = 512;
/** Two zero blocks: the end of a tar archive. */
export const TAR_END = Buffer.alloc(2 * BLOCK);
const MAX_META = 1 << 20;

const bad = (message: string) => new TriplaneError('TRIPLANE_ERR_BACKUP_FAILED', `tar stream: ${message}`);

/** Exact-length reads over an async iterable of chunks. */
class ByteReader {
  readonly #it: AsyncIterator<Buffer>;
  #buf: Buffer = Buffer.alloc(0);
  #done = false;
  constructor(src: AsyncIterable<Buffer | Uint8Array>) {
    this.#it = (async function* () {
      for await (const c of src) yield Buffer.isBuffer(c) ? c : Buffer.from(c);
    })();
  }
  async #fill(): Promise<boolean> {
    if (this.#done) return false;
    const r = await this.#it.next();
    if (r.done) {
      this.#done = true;
      return false;
    }
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, r.value]) : r.value;
    return true;
  }
  /** Exactly n bytes, or null at a clean EOF before the first byte. */
  async read(n: number): Promise<Buffer | null> {
    while (this.#buf.length < n) {
      if (!(await this.#fill())) {
        if (this.#buf.length === 0) return null;
        throw bad('truncated');
      }
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }
  /** Up to `max` bytes (at least one), for copying entry data through. */
  async some(max: number): Promise<Buffer> {
    if (this.#buf.length === 0 && !(await this.#fill())) throw bad('truncated');
    const out = this.#buf.subarray(0, max);
    this.#buf = this.#buf.subarray(out.length);
    return out;
  }
  async drain(): Promise<void> {
    this.#buf = Buffer.alloc(0);
    while (await this.#fill()) this.#buf = Buffer.alloc(0);
  }
  /** Stop reading: the source is destroyed (restic's dump stream then stops restic). */
  async close(): Promise<void> {
    await this.#it.return?.();
  }
}

function str(h: Buffer, off: number, len: number): string {
  const f = h.subarray(off, off + len);
  const nul = f.indexOf(0);
  return f.subarray(0, nul === -1 ? len : nul).toString('utf8');
}

function num(h: Buffer, off: number, len: number): number {
  const f = h.subarray(off, off + len);
  if ((f[0] ?? 0) & 0x80) {
    // base-256 (GNU / Go for values that don't fit in octal)
    let v = (f[0] ?? 0) & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + (f[i] ?? 0);
    return v;
  }
  const s = f
    .toString('latin1')
    .replace(/[\0 ]+$/g, '')
    .trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw bad(`bad number field ${JSON.stringify(s)}`);
  return Number.parseInt(s, 8);
}

function checksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
  return sum;
}

function writeOctal(h: Buffer, off: number, len: number, v: number): void {
  h.fill(0, off, off + len);
  h.write(v.toString(8).padStart(len - 1, '0'), off, len - 1, 'latin1');
}

function seal(h: Buffer): Buffer {
  h.fill(0x20, 148, 156);
  const s = checksum(h);
  h.write(`${s.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return h;
}

function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp === -1) break;
    const len = Number.parseInt(data.subarray(i, sp).toString('latin1'), 10);
    if (!Number.isInteger(len) || len <= 0 || i + len > data.length) throw bad('bad PAX record');
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return out;
}

function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + 1;
  while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
  return Buffer.from(`${len}${body}`, 'utf8');
}

function paxHeader(records: Map<string, string>): Buffer[] {
  const data = Buffer.concat([...records].map(([k, v]) => paxRecord(k, v)));
  const h = Buffer.alloc(BLOCK);
  h.write('PaxHeader', 0, 100, 'latin1');
  writeOctal(h, 100, 8, 0o644);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  writeOctal(h, 124, 12, data.length);
  writeOctal(h, 136, 12, 0);
  h.write('x', 156, 1, 'latin1');
  h.write('ustar\u000000', 257, 8, 'latin1');
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return [seal(h), data, Buffer.alloc(pad)];
}

const fits = (s: string) => Buffer.byteLength(s) <= 100 && /^[\x20-\x7e]*$/.test(s);

/** Rewrite the entries of a tar stream; see the module comment. */
export async function* renameTarEntries(src: AsyncIterable<Buffer | Uint8Array>, rename: RenameFn): AsyncGenerator<Buffer> {
  const r = new ByteReader(src);
  try {
    yield* rewrite(r, rename);
  } finally {
    await r.close();
  }
}

async function* rewrite(r: ByteReader, rename: RenameFn): AsyncGenerator<Buffer> {
  let pax = new Map<string, string>();
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const block = await r.read(BLOCK);
    if (!block) throw bad('ended without the end-of-archive marker');
    if (block.every((b) => b === 0)) {
      // the end-of-archive marker; whatever follows (padding) is read and dropped so the
      // producer (restic) can finish writing and exit
      await r.drain();
      return;
    }
    const h = Buffer.from(block);
    if (num(h, 148, 8) !== checksum(h)) throw bad('header checksum mismatch (not a tar stream?)');
    const type = String.fromCharCode(h[156] || 0x30);
    const headerSize = num(h, 124, 12);
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      if (headerSize > MAX_META) throw bad('oversized metadata entry');
      const data = (await r.read(Math.ceil(headerSize / BLOCK) * BLOCK))?.subarray(0, headerSize);
      if (!data) throw bad('truncated');
      if (type === 'x') pax = new Map([...pax, ...parsePax(data)]);
      else if (type === 'L') longName = str(data, 0, data.length);
      else if (type === 'K') longLink = str(data, 0, data.length);
      // 'g' (global) headers are not written by restic; dropped
      continue;
    }
    const ustar = h.subarray(257, 263).toString('latin1') === 'ustar\0';
    const prefix = ustar ? str(h, 345, 155) : '';
    const name = pax.get('path') ?? longName ?? (prefix ? `${prefix}/${str(h, 0, 100)}` : str(h, 0, 100));
    const linkName = pax.get('linkpath') ?? longLink ?? str(h, 157, 100);
    const size = pax.has('size') ? Number(pax.get('size')) : headerSize;
    const records = pax;
    pax = new Map();
    longName = undefined;
    longLink = undefined;
    if (!Number.isSafeInteger(size) || size < 0) throw bad('bad entry size');
    // Directories, links and devices carry no data (size 0 in what restic writes).
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    let to = rename(name, type);
    let toLink = linkName;
    if (to !== null && type === '1') {
      // a hard link names another entry of the archive: it moves with it (or goes)
      const l = rename(linkName, '0');
      if (l === null) to = null;
      else toLink = l;
    }
    if (to === null) {
      let left = padded;
      while (left > 0) left -= (await r.some(Math.min(left, 1 << 16))).length;
      continue;
    }
    const out = new Map([...records].filter(([k]) => k !== 'path' && k !== 'linkpath'));
    if (!fits(to)) out.set('path', to);
    if (toLink !== '' && !fits(toLink)) out.set('linkpath', toLink);
    if (out.size) yield* paxHeader(out);
    h.fill(0, 0, 100);
    if (fits(to)) h.write(to, 0, 100, 'utf8');
    else h.write(to.replace(/[^\x20-\x7e]/g, '_').slice(-100), 0, 100, 'latin1');
    if (toLink !== linkName) {
      h.fill(0, 157, 257);
      h.write(fits(toLink) ? toLink : toLink.replace(/[^\x20-\x7e]/g, '_').slice(-100), 157, 100, 'utf8');
    }
    if (ustar) h.fill(0, 345, 500);
    yield seal(h);
    let left = padded;
    while (left > 0) {
      const c = await r.some(Math.min(left, 1 << 16));
      left -= c.length;
      yield c;
    }
  }
}
