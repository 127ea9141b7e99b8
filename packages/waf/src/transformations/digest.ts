import { hash } from 'node:crypto';

/**
 * t:sha1 / t:md5 of a value, remembered across transactions for short values: CRS hashes the
 * User-Agent of every request (901318), and a site sees the same few agents over and over.
 * Bounded: at most MAX entries of at most MAX_INPUT bytes per algorithm, dropped all at once
 * when full (a hit is a plain Map lookup; a miss costs what it cost before).
 */
const MAX = 1024;
const MAX_INPUT = 1024;

export function digest(algorithm: 'sha1' | 'md5', memo: Map<string, string>, s: string): string {
  if (s.length > MAX_INPUT) return compute(algorithm, s);
  let d = memo.get(s);
  if (d === undefined) {
    d = compute(algorithm, s);
    if (memo.size >= MAX) memo.clear();
    memo.set(s, d);
  }
  return d;
}

// one-shot hash(): no Hash object per call (3–4× faster than createHash on short values)
function compute(algorithm: 'sha1' | 'md5', s: string): string {
  return hash(algorithm, Buffer.from(s, 'latin1'), 'binary');
}
