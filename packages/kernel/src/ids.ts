import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case

/** Random identifier with a readable type prefix, e.g. `site_4k9x…` (80 bits of entropy). */
export function newId(prefix: string): string {
  const bytes = randomBytes(16);
  let out = '';
  for (let i = 0; i < 16; i++) out += ALPHABET[(bytes[i] ?? 0) & 31];
  return `${prefix}_${out}`;
}

/** URL-safe secret token with a prefix, e.g. `tpl_…` (256 bits). */
export function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

let lastMs = 0;
let seq = 0;
/**
 * Time-ordered identifier: 10 base32 chars of the millisecond clock, then 6 of a counter and
 * randomness, so ids sort by creation time (audit log, jobs) and stay the `Id` shape.
 */
export function newSortableId(prefix: string, nowMs = Date.now()): string {
  if (nowMs === lastMs) seq++;
  else {
    lastMs = nowMs;
    seq = 0;
  }
  let t = '';
  let n = nowMs;
  for (let i = 0; i < 10; i++) {
    t = `${ALPHABET[n % 32]}${t}`;
    n = Math.floor(n / 32);
  }
  const bytes = randomBytes(4);
  let r = `${ALPHABET[(seq >> 5) & 31]}${ALPHABET[seq & 31]}`;
  for (let i = 0; i < 4; i++) r += ALPHABET[(bytes[i] ?? 0) & 31];
  return `${prefix}_${t}${r}`;
}
