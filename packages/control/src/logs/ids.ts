import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case: ASCII order = numeric order
const PREFIX = 'log_';

function base32(n: number, width: number): string {
  let s = '';
  for (let i = 0; i < width; i++) {
    s = `${ALPHABET[n % 32]}${s}`;
    n = Math.floor(n / 32);
  }
  return s;
}

let lastMs = 0;
let seq = 0;

/**
 * A log line's id: `log_` + 10 chars of the millisecond clock + 4 of a per-process counter + 4
 * random. Ids of one process strictly increase (the counter allows 2^20 lines per ms; a clock that
 * steps back keeps the last instant), so id order is arrival order: the list cursor and the SSE event
 * id. The random part keeps two control-plane replicas writing in the same ms from colliding.
 * (kernel's newSortableId has a 10-bit counter: a 1,000-line batch would wrap it.)
 */
export function newLogId(nowMs: number): string {
  if (nowMs > lastMs) {
    lastMs = nowMs;
    seq = 0;
  } else if (++seq >= 32 ** 4) {
    lastMs++;
    seq = 0;
  }
  const r = randomBytes(4);
  let rand = '';
  for (let i = 0; i < 4; i++) rand += ALPHABET[(r[i] ?? 0) & 31];
  return `${PREFIX}${base32(lastMs, 10)}${base32(seq, 4)}${rand}`;
}

/** The smallest id of instant `ms` (every id created at or after it compares greater). */
export function logIdFloor(ms: number): string {
  return `${PREFIX}${base32(Math.max(0, Math.floor(ms)), 10)}`;
}

/** The instant an id was created, epoch ms. */
export function logIdTime(id: string): number {
  let n = 0;
  for (const ch of id.slice(PREFIX.length, PREFIX.length + 10)) n = n * 32 + ALPHABET.indexOf(ch);
  return n;
}
