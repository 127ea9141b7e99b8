/**
 * A compiled set of search → replace rules applied in ONE pass over a "byte string"
 * (a JS string whose char codes are the 0–255 bytes of UTF-8 data, i.e. buf.toString('latin1')).
 *
 * One pass, leftmost-longest (like PHP's strtr, not chained str_replace): a replacement is
 * never re-scanned, so `old.example → staging.old.example` cannot cascade, and the order
 * of the rules does not matter except between rules with the same `from`.
 *
 * `boundary: 'host'` makes a rule match only when the next bytes do not continue a host
 * name or path segment, so `https://old.example` does not touch `https://old.example.com`
 * or `https://old.examples.net` (see url-pairs.ts for the reasoning).
 *
 * Example:
 *   const r = compileReplacer([['https://old.example', 'https://new.example']]);
 *   r.replace(toBytes('see https://old.example/x')) // → bytes of 'see https://new.example/x'
 */
import { TriplaneError } from '@triplane/kernel';

export interface ReplaceRule {
  readonly from: string;
  readonly to: string;
  /** 'host': only when not followed by [A-Za-z0-9_-] nor by '.' + [A-Za-z0-9-]. Default 'none'. */
  readonly boundary?: 'host' | 'none';
}

/** A rule, or a plain `[from, to]` pair (no boundary). Strings are ordinary (UTF-16) JS strings. */
export type ReplacePair = readonly [from: string, to: string] | ReplaceRule;

/** Counters a caller can pass in and read back; every function only adds to them. */
export interface RewriteStats {
  /** occurrences replaced */
  replacements: number;
  /** serialized-looking values containing a match that do not parse: left unchanged (wp-cli would corrupt them) */
  malformed: number;
  /** matches inside opaque serialized payloads (C: custom-serialized objects) left unchanged */
  opaque: number;
}

export function newRewriteStats(): RewriteStats {
  return { replacements: 0, malformed: 0, opaque: 0 };
}

/** UTF-8 bytes of a JS string, as a byte string. */
export function toBytes(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

/** JS string from a byte string holding UTF-8 (invalid sequences become U+FFFD). */
export function fromBytes(b: string): string {
  return Buffer.from(b, 'latin1').toString('utf8');
}

const HOST_BOUNDARY = '(?![A-Za-z0-9_-]|\\.[A-Za-z0-9-])';

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

export class Replacer {
  readonly rules: ReadonlyArray<Required<ReplaceRule>>;
  private readonly map: Map<string, string>;
  private readonly re: RegExp | undefined;
  private readonly probe: RegExp | undefined;

  constructor(pairs: ReadonlyArray<ReplacePair>) {
    const rules: Required<ReplaceRule>[] = [];
    const map = new Map<string, string>();
    for (const p of pairs) {
      const rule = Array.isArray(p) ? { from: p[0], to: p[1], boundary: 'none' as const } : (p as ReplaceRule);
      if (typeof rule.from !== 'string' || typeof rule.to !== 'string' || rule.from.length === 0) {
        throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'replacement rule needs a non-empty "from" and a string "to"', {
          from: rule.from,
        });
      }
      const from = toBytes(rule.from);
      if (map.has(from)) continue; // first rule for a given `from` wins
      const to = toBytes(rule.to);
      map.set(from, to);
      rules.push({ from, to, boundary: rule.boundary ?? 'none' });
    }
    // Longest first so that, at one position, the most specific form wins (https://x before //x).
    rules.sort((a, b) => b.from.length - a.from.length);
    this.rules = rules;
    this.map = map;
    const active = rules.filter((r) => r.from !== r.to);
    if (active.length > 0) {
      const src = active.map((r) => escapeRegExp(r.from) + (r.boundary === 'host' ? HOST_BOUNDARY : '')).join('|');
      this.re = new RegExp(src, 'g');
      this.probe = new RegExp(src);
    }
  }

  /**
   * Longest byte string contained in every active rule's `from` (≥ 3 bytes), or undefined:
   * a text without it cannot match, which lets callers skip work cheaply.
   */
  get needle(): string | undefined {
    if (this.needleCache === null)
      this.needleCache = commonSubstring(this.rules.filter((r) => r.from !== r.to).map((r) => r.from));
    return this.needleCache;
  }
  private needleCache: string | undefined | null = null;

  /** True when there is nothing to replace at all (no rules, or only from === to). */
  get empty(): boolean {
    return this.re === undefined;
  }

  /** Does the byte string contain at least one match? */
  test(bytes: string): boolean {
    return this.probe?.test(bytes) === true;
  }

  /** Replace every match in a byte string (plain text, no serialization awareness). */
  replace(bytes: string, stats?: RewriteStats): string {
    if (this.re === undefined) return bytes;
    let n = 0;
    const out = bytes.replace(this.re, (m) => {
      n++;
      return this.map.get(m) ?? m;
    });
    if (stats) stats.replacements += n;
    return out;
  }
}

function commonSubstring(froms: string[]): string | undefined {
  if (froms.length === 0) return undefined;
  const shortest = froms.reduce((a, b) => (b.length < a.length ? b : a));
  for (let len = shortest.length; len >= 3; len--) {
    for (let i = 0; i + len <= shortest.length; i++) {
      const sub = shortest.slice(i, i + len);
      if (froms.every((f) => f.includes(sub))) return sub;
    }
  }
  return undefined;
}

export function compileReplacer(pairs: ReadonlyArray<ReplacePair> | Replacer): Replacer {
  return pairs instanceof Replacer ? pairs : new Replacer(pairs);
}
