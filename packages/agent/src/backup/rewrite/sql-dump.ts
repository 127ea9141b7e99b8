/**
 * A streaming rewriter for `mariadb-dump` output: replaces URLs inside the string literals of
 * INSERT statements (PHP-serialization aware, see serialized.ts) and can drop whole tables.
 *
 *   mariadb-dump … | createDumpRewriter({ pairs: urlReplaceRules(a, b), skipTables }) | mariadb …
 *
 * Guarantees:
 * - Byte-identical output for every literal that does not change, and for everything that is
 *   not a data literal (DDL, comments, SET, numbers, `_binary '…'`, 0x… hex): those bytes are
 *   copied, never re-encoded. A changed literal is re-escaped the way mariadb-dump escapes
 *   (mysql_real_escape_string: \0 \n \r \\ \' \" \Z).
 * - Chunk boundaries may fall anywhere (inside an escape, a multibyte character, `--`, a
 *   DELIMITER): the lexer works on bytes and carries at most a few bytes between chunks.
 * - Bounded memory: statements are streamed; only one string literal is held at a time, up
 *   to `maxLiteralBytes` (default 64 MiB) — beyond that the stream fails with
 *   TRIPLANE_ERR_REWRITE_LITERAL_TOO_LARGE. A statement head (≤ 1 KiB, enough to read the
 *   table name) and a comment line (≤ 4 KiB) are held to classify them. Rewriting one
 *   literal holds a few copies of it (raw, unescaped, rewritten, re-escaped): plan for a
 *   peak of about 5× the largest literal.
 * - A dump that ends inside a quoted string fails with TRIPLANE_ERR_REWRITE_DUMP_TRUNCATED.
 * - Binary data: dump with `mariadb-dump --hex-blob`. MariaDB 10.11's mariadb-dump writes
 *   BLOB/BINARY/VARBINARY values as plain '…' strings (no `_binary` introducer), which this
 *   stream cannot tell from text and would rewrite; with --hex-blob they are 0x… and left
 *   alone. (`_binary '…'`, as MySQL's mysqldump writes, is recognised and left alone too.)
 *
 * Table filter (`skipTables`, exact names with prefix): drops the DDL and the data of those
 * tables. A table section starts at mariadb-dump's markers (`-- Table structure for table
 * `x``, `-- Dumping data for table `x``) or at any statement naming the table (DROP TABLE,
 * CREATE TABLE, LOCK TABLES, ALTER TABLE incl. the `/*!40000 … DISABLE KEYS` form,
 * INSERT/REPLACE INTO) — so dumps made with --skip-comments work too. Inside a skipped
 * section every statement and comment is dropped (the per-table SET character_set_client
 * pairs, UNLOCK TABLES, triggers) until a marker or statement of another table, another
 * section marker (routines, events, views of other names, database), a `USE`/`CREATE
 * DATABASE`, or the dump footer (statements restoring `@OLD_…` settings).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { TriplaneError } from '@triplane/kernel';
import { compileReplacer, newRewriteStats, type ReplacePair, type Replacer, type RewriteStats } from './replacer.ts';
import { replaceInPhpBytes } from './serialized.ts';

export const DEFAULT_MAX_LITERAL_BYTES = 64 * 1024 * 1024;
const HEAD_MAX = 1024;
const COMMENT_MAX = 4096;

export interface DumpRewriteOptions {
  /** Replacement rules (e.g. urlReplaceRules(old, new)); none = pure table filter / passthrough. */
  pairs?: ReadonlyArray<ReplacePair> | Replacer;
  /** Tables (full names, with prefix) whose structure and data are dropped from the stream. */
  skipTables?: ReadonlySet<string>;
  /** Largest string literal held for rewriting; default 64 MiB. */
  maxLiteralBytes?: number;
}

export interface DumpRewriteStats extends RewriteStats {
  /** data literals looked at */
  literals: number;
  /** data literals whose bytes changed */
  changedLiterals: number;
  /** statements dropped by the table filter */
  droppedStatements: number;
  /** tables from skipTables actually met (and dropped) in the dump */
  droppedTables: Set<string>;
}

// Lexer modes.
const CODE = 0;
const SQ = 1; // '…'
const DQ = 2; // "…"
const BT = 3; // `…`
const LINE_COMMENT = 4;
const BLOCK_COMMENT = 5;

// What happens to the bytes of the current unit (statement or comment).
const HEAD = 0; // held until classified
const KEEP = 1;
const DROP = 2;

const RE_TABLE_STMT =
  /^\s*(?:\/\*!\d*\s*)?(?:DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?|CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?|LOCK\s+TABLES\s+|ALTER\s+TABLE\s+|INSERT\s+(?:(?:LOW_PRIORITY|DELAYED|HIGH_PRIORITY|IGNORE)\s+)*INTO\s+|REPLACE\s+(?:(?:LOW_PRIORITY|DELAYED)\s+)*INTO\s+|TRUNCATE\s+(?:TABLE\s+)?)`((?:[^`]|``)+)`/i;
const RE_DATA_STMT = /^\s*(?:INSERT|REPLACE)\b/i;
const RE_SECTION_END_STMT = /^\s*(?:USE\b|CREATE\s+DATABASE\b)|=\s*@OLD_/i;
const RE_DELIMITER = /^\s*DELIMITER[ \t]+(\S+)[ \t]*\r?\n$/i;
const RE_TABLE_MARKER =
  /^\s*--\s+(?:Table structure for table|Dumping data for table|Temporary table structure for view|Final view structure for view)\s+`((?:[^`]|``)+)`/;
const RE_OTHER_MARKER = /^\s*--\s+(?:Dumping (?:routines|events|database structure)|Current Database|Dump completed)\b/;
const RE_BINARY_INTRO = /_binary\s*$/i;

/** The bytes mysql_real_escape_string escapes. */
const ESCAPED = '\0\n\r\\\'"\x1a';

/** mysql_real_escape_string, as mariadb-dump writes data literals. */
export function escapeSqlBytes(bytes: string): Buffer {
  const src = Buffer.from(bytes, 'latin1');
  let extra = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === 0 || c === 0x0a || c === 0x0d || c === 0x5c || c === 0x27 || c === 0x22 || c === 0x1a) extra++;
  }
  if (extra === 0) return src;
  const out = Buffer.allocUnsafe(src.length + extra);
  let o = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    let e = -1;
    if (c === 0) e = 0x30;
    else if (c === 0x0a) e = 0x6e;
    else if (c === 0x0d) e = 0x72;
    else if (c === 0x5c || c === 0x27 || c === 0x22) e = c;
    else if (c === 0x1a) e = 0x5a;
    if (e < 0) out[o++] = c;
    else {
      out[o++] = 0x5c;
      out[o++] = e;
    }
  }
  return out;
}

/** MariaDB string-literal unescaping of the bytes between the quotes → byte string. */
export function unescapeSqlBytes(raw: Buffer): string {
  if (raw.indexOf(0x5c) < 0 && raw.indexOf(0x27) < 0) return raw.toString('latin1');
  const out = Buffer.allocUnsafe(raw.length);
  let o = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === 0x27 && raw[i + 1] === 0x27) {
      out[o++] = 0x27; // '' inside '…'
      i++;
    } else if (c === 0x5c && i + 1 < raw.length) {
      const n = raw[++i]!;
      switch (n) {
        case 0x30:
          out[o++] = 0;
          break;
        case 0x62:
          out[o++] = 0x08;
          break;
        case 0x6e:
          out[o++] = 0x0a;
          break;
        case 0x72:
          out[o++] = 0x0d;
          break;
        case 0x74:
          out[o++] = 0x09;
          break;
        case 0x5a:
          out[o++] = 0x1a;
          break;
        case 0x25: // \% and \_ keep their backslash (LIKE escapes)
        case 0x5f:
          out[o++] = 0x5c;
          out[o++] = n;
          break;
        default:
          out[o++] = n;
      }
    } else out[o++] = c;
  }
  return out.toString('latin1', 0, o);
}

function unquoteIdent(s: string): string {
  return s.replaceAll('``', '`');
}

export class DumpRewriter extends Transform {
  readonly stats: DumpRewriteStats = {
    ...newRewriteStats(),
    literals: 0,
    changedLiterals: 0,
    droppedStatements: 0,
    droppedTables: new Set(),
  };
  private readonly replacer: Replacer | undefined;
  /** Bytes every match contains; a literal without them (and without escapes) is skipped unread. */
  private readonly needle: Buffer | undefined;
  private readonly skip: ReadonlySet<string>;
  private readonly maxLiteral: number;

  private carry: Buffer | undefined;
  /** The 16 bytes before the buffer being scanned (to see `_binary` across a chunk boundary). */
  private prevTail = '';
  private mode = CODE;
  private unit = HEAD;
  private isComment = false;
  private head: Buffer[] = [];
  private headLen = 0;
  /** Only whitespace seen in the current unit so far (a comment here is its own unit). */
  private blank = true;
  private isData = false;
  private skipping = false;
  private delimiter = Buffer.from(';');
  private collecting = false;
  private lit: Buffer[] = [];
  private litLen = 0;
  private out: Buffer[] = [];

  constructor(opts: DumpRewriteOptions = {}) {
    super();
    const r = opts.pairs ? compileReplacer(opts.pairs) : undefined;
    this.replacer = r && !r.empty ? r : undefined;
    const needle = this.replacer?.needle;
    // Usable only if escaping leaves the needle as is: none of the bytes mariadb-dump escapes.
    if (needle && ![...needle].some((ch) => ESCAPED.includes(ch))) this.needle = Buffer.from(needle, 'latin1');
    this.skip = opts.skipTables ?? new Set();
    this.maxLiteral = opts.maxLiteralBytes ?? DEFAULT_MAX_LITERAL_BYTES;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      let b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as unknown as string);
      if (this.carry) {
        b = Buffer.concat([this.carry, b]);
        this.carry = undefined;
      }
      const stop = this.scan(b, false);
      if (stop < b.length) this.carry = Buffer.from(b.subarray(stop));
      this.flushOut();
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      const b = this.carry ?? Buffer.alloc(0);
      this.carry = undefined;
      this.scan(b, true);
      if (this.mode === SQ || this.mode === DQ || this.mode === BT) {
        throw new TriplaneError('TRIPLANE_ERR_REWRITE_DUMP_TRUNCATED', 'SQL dump ends inside a quoted string or identifier');
      }
      if (this.unit === HEAD) this.classify();
      this.flushOut();
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  private flushOut(): void {
    if (this.out.length === 0) return;
    const o = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
    this.out = [];
    if (o.length > 0) this.push(o);
  }

  /** Hand bytes of the current unit on: held (HEAD), emitted (KEEP) or dropped (DROP). */
  private hand(b: Buffer): void {
    if (b.length === 0) return;
    if (this.unit === HEAD) {
      this.head.push(b);
      this.headLen += b.length;
    } else if (this.unit === KEEP) this.out.push(b);
  }

  /** Decide KEEP/DROP for the held head and release it. */
  private classify(): void {
    const text = Buffer.concat(this.head).toString('latin1');
    let drop = false;
    if (this.isComment) {
      const m = RE_TABLE_MARKER.exec(text);
      if (m) this.enterTable(unquoteIdent(m[1]!));
      else if (RE_OTHER_MARKER.test(text)) this.skipping = false;
      drop = this.skipping;
    } else if (!this.blank) {
      const m = RE_TABLE_STMT.exec(text);
      if (m) this.enterTable(unquoteIdent(m[1]!));
      else if (RE_SECTION_END_STMT.test(text)) this.skipping = false;
      drop = this.skipping;
      this.isData = !drop && RE_DATA_STMT.test(text);
      if (drop) this.stats.droppedStatements++;
    } else drop = this.skipping; // trailing whitespace
    this.unit = drop ? DROP : KEEP;
    if (!drop) for (const h of this.head) this.out.push(h);
    this.head = [];
    this.headLen = 0;
  }

  private enterTable(name: string): void {
    this.skipping = this.skip.has(name);
    if (this.skipping) this.stats.droppedTables.add(name);
  }

  /** The current unit ended (its bytes were handed on): start a new one. */
  private endUnit(): void {
    if (this.unit === HEAD) this.classify();
    this.unit = HEAD;
    this.isComment = false;
    this.blank = true;
    this.isData = false;
  }

  /** Is the quote at q preceded by the `_binary` introducer (binary column: left alone)? */
  private binaryBefore(b: Buffer, q: number): boolean {
    let k = q - 1;
    while (k >= 0 && (b[k] === 0x20 || b[k] === 0x09 || b[k] === 0x0a || b[k] === 0x0d)) k--;
    if (k >= 7) return RE_BINARY_INTRO.test(b.toString('latin1', k - 7, k + 1));
    return RE_BINARY_INTRO.test(this.prevTail + b.toString('latin1', 0, q));
  }

  private finishLiteral(): void {
    const raw = this.lit.length === 1 ? this.lit[0]! : Buffer.concat(this.lit, this.litLen);
    this.lit = [];
    this.litLen = 0;
    this.collecting = false;
    this.stats.literals++;
    // Escaping never touches the needle's bytes, so a literal whose escaped form lacks it
    // cannot contain a match (a non-canonical escape like `\l`, which mariadb-dump never
    // writes, could hide one: a missed replacement, never a corruption).
    if (this.needle && raw.indexOf(this.needle) < 0) {
      this.out.push(raw);
      return;
    }
    const bytes = unescapeSqlBytes(raw);
    const out = replaceInPhpBytes(bytes, this.replacer!, this.stats);
    if (out === bytes) this.out.push(raw);
    else {
      this.stats.changedLiterals++;
      this.out.push(escapeSqlBytes(out));
    }
  }

  private addLiteral(b: Buffer): void {
    if (b.length === 0) return;
    this.litLen += b.length;
    if (this.litLen > this.maxLiteral) {
      throw new TriplaneError(
        'TRIPLANE_ERR_REWRITE_LITERAL_TOO_LARGE',
        `a string literal in the SQL dump exceeds ${this.maxLiteral} bytes; cannot rewrite it in bounded memory`,
        { maxLiteralBytes: this.maxLiteral },
      );
    }
    this.lit.push(b);
  }

  /** Is the held head (+ pending bytes) a `DELIMITER x` client command, which ends at the newline? */
  private isDelimiterCommand(pending: string): boolean {
    if (this.headLen + pending.length > 256) return false;
    return /^\s*DELIMITER[ \t]/i.test(Buffer.concat(this.head).toString('latin1') + pending);
  }

  /** Hand on [start, i): literal bytes if a literal is being collected, else the unit's bytes. */
  private handRun(b: Buffer, start: number, i: number): void {
    if (this.collecting) this.addLiteral(b.subarray(start, i));
    else this.hand(b.subarray(start, i));
  }

  /**
   * Lex b from the start; returns the index up to which bytes were consumed. Bytes after it
   * (an incomplete escape/comment opener/delimiter) are carried into the next chunk.
   * Bytes are handed on lazily as runs [start, i): a new run starts only where their fate
   * changes (a collected literal, a unit boundary, a classification).
   */
  private scan(b: Buffer, final: boolean): number {
    const stop = this.lex(b, final);
    this.prevTail = (this.prevTail + b.toString('latin1', Math.max(0, stop - 16), stop)).slice(-16);
    return stop;
  }

  private lex(b: Buffer, final: boolean): number {
    const n = b.length;
    let i = 0;
    let start = 0;
    while (i < n) {
      switch (this.mode) {
        case CODE: {
          const c = b[i]!;
          if (this.unit === HEAD && this.blank && (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d)) {
            i++;
            continue;
          }
          if (c === 0x27 || c === 0x22 || c === 0x60) {
            this.blank = false;
            if (c === 0x60) {
              this.mode = BT;
              i++;
              continue;
            }
            if (this.unit === HEAD) {
              this.hand(b.subarray(start, i));
              start = i;
              this.classify();
            }
            i++;
            if (c === 0x22) {
              this.mode = DQ;
              continue;
            }
            this.mode = SQ;
            if (this.unit === KEEP && this.isData && this.replacer !== undefined && !this.binaryBefore(b, i - 1)) {
              this.hand(b.subarray(start, i));
              start = i;
              this.collecting = true;
            }
            continue;
          }
          if (c === 0x2d || c === 0x2f || c === 0x23) {
            // -- comment, # comment, /* comment */ (but /*! and /*M! are code)
            if (c !== 0x23 && i + 2 >= n && !final) return this.stopAt(b, start, i);
            const c1 = b[i + 1];
            const c2 = b[i + 2];
            let kind = -1;
            if (c === 0x23) kind = LINE_COMMENT;
            else if (c === 0x2d && c1 === 0x2d && (c2 === undefined || c2 <= 0x20)) kind = LINE_COMMENT;
            else if (c === 0x2f && c1 === 0x2a && c2 !== 0x21 && c2 !== 0x4d) kind = BLOCK_COMMENT;
            if (kind >= 0) {
              if (this.unit === HEAD && this.blank && kind === LINE_COMMENT) this.isComment = true;
              this.blank = false;
              this.mode = kind;
              i += kind === BLOCK_COMMENT ? 2 : 1;
              continue;
            }
          }
          const delim = this.delimiter;
          if (c === delim[0]) {
            if (i + delim.length > n && !final) return this.stopAt(b, start, i);
            if (
              (delim.length === 1 || b.subarray(i, i + delim.length).equals(delim)) &&
              !(this.unit === HEAD && this.isDelimiterCommand(b.toString('latin1', start, i)))
            ) {
              i += delim.length;
              this.blank = false;
              this.hand(b.subarray(start, i));
              start = i;
              this.endUnit();
              continue;
            }
          }
          if (c === 0x0a && this.unit === HEAD && this.headLen + (i - start) < 256) {
            // DELIMITER is a client command ending at the newline
            const m = RE_DELIMITER.exec(Buffer.concat(this.head).toString('latin1') + b.toString('latin1', start, i + 1));
            if (m) {
              i++;
              this.hand(b.subarray(start, i));
              start = i;
              this.endUnit();
              this.delimiter = Buffer.from(m[1]!, 'latin1');
              continue;
            }
          }
          this.blank = false;
          i++;
          if (this.unit === HEAD && this.headLen + (i - start) >= HEAD_MAX) {
            this.hand(b.subarray(start, i));
            start = i;
            this.classify();
          }
          continue;
        }
        case SQ:
        case DQ: {
          const q = this.mode === SQ ? 0x27 : 0x22;
          let j = i;
          while (j < n) {
            const c = b[j]!;
            if (c === 0x5c || c === q) break;
            j++;
          }
          if (j >= n) {
            i = n;
            continue;
          }
          // an escape, or a quote that may be doubled ('' / ""): both need the next byte
          if (j + 1 >= n && !final) return this.stopAt(b, start, j);
          if (b[j] === 0x5c || b[j + 1] === q) {
            i = j + 2;
            continue;
          }
          if (this.collecting) {
            this.addLiteral(b.subarray(start, j));
            this.finishLiteral();
            start = j; // the closing quote opens the next run
          }
          i = j + 1;
          this.mode = CODE;
          continue;
        }
        case BT: {
          const j = b.indexOf(0x60, i);
          i = j < 0 ? n : j + 1;
          if (j >= 0) this.mode = CODE; // `a``b` reopens at once: same bytes either way
          continue;
        }
        case LINE_COMMENT: {
          const j = b.indexOf(0x0a, i);
          i = j < 0 ? n : j + 1;
          if (j >= 0) {
            this.mode = CODE;
            if (this.isComment) {
              this.hand(b.subarray(start, i));
              start = i;
              this.endUnit();
            }
          }
          continue;
        }
        case BLOCK_COMMENT: {
          const j = b.indexOf('*/', i, 'latin1');
          if (j < 0) {
            // keep a trailing '*' for the next chunk
            if (!final && b[n - 1] === 0x2a) return this.stopAt(b, start, n - 1);
            i = n;
            continue;
          }
          i = j + 2;
          this.mode = CODE;
          continue;
        }
      }
    }
    this.handRun(b, start, n);
    // bounded memory: a unit is classified on what was seen once its head is long enough
    if (this.unit === HEAD && this.headLen >= (this.isComment ? COMMENT_MAX : HEAD_MAX)) this.classify();
    return n;
  }

  /** Stop at i: hand on [start, i) and carry the rest. */
  private stopAt(b: Buffer, start: number, i: number): number {
    this.handRun(b, start, i);
    return i;
  }
}

/** A Transform rewriting a mariadb-dump stream; read `.stats` after it finished. */
export function createDumpRewriter(opts: DumpRewriteOptions = {}): DumpRewriter {
  return new DumpRewriter(opts);
}
