import { randomBytes } from 'node:crypto';

/**
 * Request ids: a random per-process prefix plus a counter — unique across edge workers and
 * restarts without a syscall per request, and safe in ModSecurity's `unique_id` (letters, digits).
 * Example: `k3v9x0aq2m7d-000a4f`.
 */
const PREFIX = randomBytes(8).readBigUInt64BE().toString(36).padStart(13, '0').slice(0, 13);
let counter = 0;

export function nextRequestId(): string {
  counter = (counter + 1) % 2_176_782_336; // 36^6
  return `${PREFIX}-${counter.toString(36).padStart(6, '0')}`;
}
