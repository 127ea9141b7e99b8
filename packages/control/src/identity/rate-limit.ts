import { type Kysely, sql } from 'kysely';
import type { DB } from '../store/schema.ts';

export interface FixedWindow {
  /** Attempts allowed per window. */
  limit: number;
  windowMs: number;
}

export interface RateVerdict {
  allowed: boolean;
  /** Attempts counted in the current window, this one included. */
  count: number;
  /** Seconds until the window ends (≥ 1): the Retry-After value when not allowed. */
  retryAfterSeconds: number;
}

/**
 * Fixed-window counter in the store's `rate_limits` table, shared by every API process
 * (so it holds across replicas on Postgres). Windows are aligned to multiples of
 * `windowMs`; one atomic upsert counts the attempt and starts a new window when the old
 * one is over. Call it OUTSIDE the request's transaction: a failed login rolls its
 * transaction back, and its attempt must still count.
 *
 * Example: hit(db, 'login:ip:10.0.0.1', { limit: 30, windowMs: 60_000 }, Date.now())
 *   → { allowed: true, count: 1, retryAfterSeconds: 42 }
 */
export async function hit(db: Kysely<DB>, key: string, w: FixedWindow, nowMs: number): Promise<RateVerdict> {
  const windowStart = Math.floor(nowMs / w.windowMs) * w.windowMs;
  const row = await db
    .insertInto('rate_limits')
    .values({ key, window_start: windowStart, count: 1 })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet({
        count: sql<number>`case when rate_limits.window_start = ${windowStart} then rate_limits.count + 1 else 1 end`,
        window_start: windowStart,
      }),
    )
    .returning(['count'])
    .executeTakeFirstOrThrow();
  const count = Number(row.count);
  const retryAfterSeconds = Math.max(1, Math.ceil((windowStart + w.windowMs - nowMs) / 1000));
  return { allowed: count <= w.limit, count, retryAfterSeconds };
}

/** Forget one key's counter (e.g. the (ip, email) pair after that user signed in). */
export async function reset(db: Kysely<DB>, key: string): Promise<void> {
  await db.deleteFrom('rate_limits').where('key', '=', key).execute();
}

/** Drop counters under `prefix` whose window ended; keeps the table as small as the live keys. */
export async function purgeExpired(db: Kysely<DB>, prefix: string, windowMs: number, nowMs: number): Promise<void> {
  const currentWindow = Math.floor(nowMs / windowMs) * windowMs;
  await db
    .deleteFrom('rate_limits')
    .where(sql<string>`substr(key, 1, ${prefix.length})`, '=', prefix)
    .where('window_start', '<', currentWindow)
    .execute();
}
