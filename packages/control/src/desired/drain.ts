import { type Clock, TriplaneError } from '@triplane/kernel';
import type { Kysely } from 'kysely';
import type { DB } from '../store/schema.ts';
import { parseObserved, parseServerIds } from './rows.ts';
import { serverStatus } from './servers.ts';

/**
 * Waits used by jobs that need the agents to act on a desired-state change. Bounded: an agent
 * that does not answer in time is offline or stuck, and because reconcile is level-based it
 * converges to the desired state when it comes back — the job does not need to wait for it.
 */

export interface WaitOptions {
  clock: Clock;
  signal: AbortSignal;
  timeoutMs: number;
  /** How often the store is read, ms. */
  pollMs?: number;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new TriplaneError('TRIPLANE_ERR_JOB_CANCELLED', 'stopped while waiting for agents'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new TriplaneError('TRIPLANE_ERR_JOB_CANCELLED', 'stopped while waiting for agents'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function poll<T>(check: () => Promise<{ done: boolean; value: T }>, o: WaitOptions): Promise<{ done: boolean; value: T }> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const r = await check();
    if (r.done || Date.now() >= deadline) return r;
    await sleep(Math.min(o.pollMs ?? 500, Math.max(1, deadline - Date.now())), o.signal);
  }
}

async function onlineServers(db: Kysely<DB>, ids: string[], nowMs: number): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.selectFrom('servers').select(['id', 'joined_at', 'last_heartbeat_at']).where('id', 'in', ids).execute();
  return new Set(rows.filter((r) => serverStatus(r, nowMs) === 'online').map((r) => r.id));
}

/**
 * Wait until no ONLINE server's agent still reports any of these environments (agents' status
 * reports list everything they run; a missing environment is gone from that server).
 * Returns the pairs still reported when the time ran out.
 */
export async function waitForAgentsToRelease(
  db: Kysely<DB>,
  environmentIds: readonly string[],
  o: WaitOptions,
): Promise<{ released: boolean; remaining: { environmentId: string; serverId: string }[] }> {
  if (environmentIds.length === 0) return { released: true, remaining: [] };
  const r = await poll(async () => {
    const rows = await db
      .selectFrom('environments')
      .select(['id', 'observed'])
      .where('id', 'in', [...environmentIds])
      .execute();
    const pairs: { environmentId: string; serverId: string }[] = [];
    for (const row of rows)
      for (const s of Object.keys(parseObserved(row.observed).servers)) pairs.push({ environmentId: row.id, serverId: s });
    const online = await onlineServers(db, [...new Set(pairs.map((p) => p.serverId))], o.clock.now());
    const remaining = pairs.filter((p) => online.has(p.serverId));
    return { done: remaining.length === 0, value: remaining };
  }, o);
  return { released: r.done, remaining: r.value };
}

/**
 * Wait until every online server the environment is placed on reports a generation at least
 * `generation` (the agent has applied the change). Returns whether they all did in time.
 */
export async function waitForGeneration(
  db: Kysely<DB>,
  environmentId: string,
  generation: number,
  o: WaitOptions,
): Promise<{ confirmed: boolean; pending: string[] }> {
  const r = await poll(async () => {
    const row = await db
      .selectFrom('environments')
      .select(['server_ids', 'observed'])
      .where('id', '=', environmentId)
      .executeTakeFirst();
    if (!row) return { done: true, value: [] as string[] };
    const observed = parseObserved(row.observed).servers;
    const online = await onlineServers(db, parseServerIds(row.server_ids), o.clock.now());
    const pending = [...online].filter((s) => (observed[s]?.generation ?? -1) < generation);
    return { done: pending.length === 0, value: pending };
  }, o);
  return { confirmed: r.done, pending: r.value };
}
