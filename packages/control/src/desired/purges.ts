import { type Clock, newId } from '@triplane/kernel';
import type { PurgeKind, SnapshotPurge } from '@triplane/spec';
import type { Kysely } from 'kysely';
import type { DB } from '../store/schema.ts';
import { bumpRevision } from '../store/store.ts';

/**
 * Cache purges on their way to every edge. A purge is a row of `edge_purges` with a contiguous
 * platform-wide `seq`; the edge snapshot carries a bounded window of the newest rows, and an
 * edge applies every purge above the last seq it applied (packages/edge/src/purge.ts).
 *
 * The window (why: the snapshot is resent to every edge on every change, so it must stay small):
 * at most the newest `maxPurges` purges, none older than `maxAgeMs`, at most `maxValues` values
 * in all. Pruning happens on insert, in the purge's transaction, and always keeps the newest
 * row, so `max(seq)` (the next seq's base) never goes backwards. An edge that was away while
 * purges it never saw were pruned detects the gap and drops its whole cache.
 */
export const PURGE_WINDOW = { maxPurges: 1000, maxAgeMs: 24 * 3600_000, maxValues: 10_000 } as const;

export interface RecordedPurge {
  id: string;
  seq: number;
  createdAt: string;
}

/**
 * Record a purge inside the caller's transaction. Bumping the revision first does two things:
 * long-polling edges wake at once, and the row lock on `state_revision` serialises concurrent
 * purges (PostgreSQL; SQLite write transactions are serial anyway), so `max(seq) + 1` is safe
 * and commits in seq order.
 */
export async function recordPurge(
  trx: Kysely<DB>,
  p: { environmentId: string; kind: PurgeKind; values: readonly string[]; actorId: string | null; clock: Clock },
  window: { maxPurges: number; maxAgeMs: number; maxValues: number } = PURGE_WINDOW,
): Promise<RecordedPurge> {
  await bumpRevision(trx);
  const top = await trx
    .selectFrom('edge_purges')
    .select((eb) => eb.fn.max('seq').as('m'))
    .executeTakeFirst();
  const seq = Number(top?.m ?? 0) + 1;
  const nowMs = p.clock.now();
  const createdAt = new Date(nowMs).toISOString();
  const id = newId('prg');
  await trx
    .insertInto('edge_purges')
    .values({
      seq,
      id,
      environment_id: p.environmentId,
      kind: p.kind,
      purge_values: JSON.stringify(p.values),
      value_count: p.values.length,
      created_at: createdAt,
      actor_id: p.actorId,
    })
    .execute();
  await prunePurges(trx, seq, nowMs, window);
  return { id, seq, createdAt };
}

async function prunePurges(
  trx: Kysely<DB>,
  newest: number,
  nowMs: number,
  w: { maxPurges: number; maxAgeMs: number; maxValues: number },
): Promise<void> {
  const cutoff = new Date(nowMs - w.maxAgeMs).toISOString();
  // Oldest seq to keep: by count, by age, then by the value budget (newest first).
  let keepFrom = Math.max(1, newest - w.maxPurges + 1);
  const rows = await trx
    .selectFrom('edge_purges')
    .select(['seq', 'value_count', 'created_at'])
    .where('seq', '>=', keepFrom)
    .orderBy('seq', 'desc')
    .execute();
  let values = 0;
  for (const [i, r] of rows.entries()) {
    const s = Number(r.seq);
    values += Number(r.value_count);
    if (i > 0 && (r.created_at < cutoff || values > w.maxValues)) {
      keepFrom = s + 1;
      break;
    }
  }
  await trx.deleteFrom('edge_purges').where('seq', '<', keepFrom).execute();
}

/** The window of purges for the edge snapshot, ascending seq; `purgeSeq` is the newest (0: none yet). */
export async function loadPurges(
  db: Kysely<DB>,
  maxPurges: number = PURGE_WINDOW.maxPurges,
): Promise<{ purges: SnapshotPurge[]; purgeSeq: number }> {
  const rows = await db
    .selectFrom('edge_purges')
    .select(['seq', 'environment_id', 'kind', 'purge_values', 'created_at'])
    .orderBy('seq', 'desc')
    .limit(maxPurges)
    .execute();
  const purges = rows.reverse().map((r) => ({
    seq: Number(r.seq),
    environmentId: r.environment_id,
    kind: r.kind as PurgeKind,
    values: parseValues(r.purge_values),
    createdAt: r.created_at,
  }));
  return { purges, purgeSeq: purges.at(-1)?.seq ?? 0 };
}

function parseValues(text: string): string[] {
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}
