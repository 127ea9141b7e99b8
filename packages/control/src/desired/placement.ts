import { type Clock, isoNow, TriplaneError } from '@triplane/kernel';
import type { Transaction } from 'kysely';
import type { DB } from '../store/schema.ts';
import { bumpRevision, type Dialect } from '../store/store.ts';
import { allocatePort, nextUidSlot, unixUserName, webPortRange } from './allocation.ts';
import { lockDesiredState } from './lock.ts';
import { parseRuntime, parseServerIds, type RuntimeJson, serverIdsJson } from './rows.ts';
import { serverStatus } from './servers.ts';

/**
 * Placement: which app servers run an environment.
 *
 * Rules (pure, in planPlacement):
 * - pinned (the user gave serverIds): exactly those, minus servers that no longer exist;
 * - automatic: keep the servers it already has (an environment's volumes live there; moving
 *   it is a migration, not a scheduling decision), trim to `replicas`, then add ONLINE app
 *   servers with the fewest environments (ties: lowest id) until `replicas` are reached.
 *
 * When no app server is online the environment stays `pending` with the message
 * 'waiting for an app server' and the provisioning job still succeeds. Placement is then
 * retried when a server joins or comes back (agents' join/heartbeat call placeWaiting): that is
 * the moment the situation changes, it needs no job to poll or retry with backoff, and it is
 * level-based — the next join or heartbeat repairs anything a crash left half-done.
 */

export const WAITING_FOR_SERVER = 'waiting for an app server';

export interface CandidateServer {
  id: string;
  role: string;
  online: boolean;
  /** environments placed on it */
  load: number;
}

export interface PlacementInput {
  current: readonly string[];
  pinned: boolean;
  replicas: number;
  servers: readonly CandidateServer[];
}

export function planPlacement(i: PlacementInput): string[] {
  const apps = new Map(i.servers.filter((s) => s.role === 'app').map((s) => [s.id, s]));
  const keep = i.current.filter((id) => apps.has(id));
  if (i.pinned) return [...new Set(keep)].sort();
  const chosen = [...new Set(keep)].slice(0, i.replicas);
  const candidates = [...apps.values()]
    .filter((s) => s.online && !chosen.includes(s.id))
    .sort((a, b) => a.load - b.load || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const s of candidates) {
    if (chosen.length >= i.replicas) break;
    chosen.push(s.id);
  }
  return chosen.sort();
}

export interface PlacementResult {
  environmentId: string;
  changed: boolean;
  serverIds: string[];
  status: string;
  runtime: RuntimeJson;
}

/**
 * Place one environment and allocate its runtime, inside the caller's transaction. Idempotent:
 * a second call with nothing changed writes nothing and does not bump the revision.
 * Returns undefined when the environment does not exist.
 */
export async function placeEnvironment(
  trx: Transaction<DB>,
  dialect: Dialect,
  environmentId: string,
  clock: Clock,
): Promise<PlacementResult | undefined> {
  await lockDesiredState(trx, dialect);
  const env = await trx
    .selectFrom('environments')
    .innerJoin('sites', 'sites.id', 'environments.site_id')
    .select([
      'environments.id',
      'environments.name',
      'environments.status',
      'environments.status_message',
      'environments.replicas',
      'environments.server_ids',
      'environments.runtime',
      'sites.name as site_name',
    ])
    .where('environments.id', '=', environmentId)
    .executeTakeFirst();
  if (!env) return undefined;
  const runtime = parseRuntime(env.runtime);
  const current = parseServerIds(env.server_ids);
  if (env.status === 'deleting') {
    return { environmentId, changed: false, serverIds: current, status: env.status, runtime };
  }

  const now = clock.now();
  const servers = await trx.selectFrom('servers').select(['id', 'role', 'joined_at', 'last_heartbeat_at']).execute();
  const others = await trx
    .selectFrom('environments')
    .select(['id', 'server_ids', 'runtime'])
    .where('id', '!=', environmentId)
    .execute();

  const load = new Map<string, number>();
  const usedPorts = new Map<string, Set<number>>();
  const usedUsers = new Set<string>();
  const usedSlots: number[] = [];
  for (const o of others) {
    for (const s of parseServerIds(o.server_ids)) load.set(s, (load.get(s) ?? 0) + 1);
    const r = parseRuntime(o.runtime);
    if (r.unixUser) usedUsers.add(r.unixUser);
    if (r.uidSlot !== null) usedSlots.push(r.uidSlot);
    for (const [s, p] of Object.entries(r.webPorts)) {
      const set = usedPorts.get(s) ?? new Set<number>();
      set.add(p);
      usedPorts.set(s, set);
    }
  }

  const serverIds = planPlacement({
    current,
    pinned: runtime.pinned,
    replicas: env.replicas,
    servers: servers.map((s) => ({
      id: s.id,
      role: s.role,
      online: serverStatus(s, now) === 'online',
      load: load.get(s.id) ?? 0,
    })),
  });

  const next: RuntimeJson = {
    unixUser: runtime.unixUser ?? unixUserName(env.site_name, env.name, usedUsers, env.id),
    uidSlot: runtime.uidSlot ?? nextUidSlot(usedSlots),
    webPorts: {},
    pinned: runtime.pinned,
  };
  const range = webPortRange();
  for (const s of serverIds) {
    const had = runtime.webPorts[s];
    const used = usedPorts.get(s) ?? new Set<number>();
    const port = had !== undefined && !used.has(had) ? had : allocatePort(used, range);
    if (port === undefined) {
      throw new TriplaneError('TRIPLANE_ERR_UNAVAILABLE', `server ${s} has no free web port left`, { serverId: s });
    }
    next.webPorts[s] = port;
  }

  let status = env.status;
  let message = env.status_message;
  if (serverIds.length === 0) {
    if (status === 'pending' || status === 'provisioning') {
      status = 'pending';
      message = WAITING_FOR_SERVER;
    }
  } else if (status === 'pending') {
    status = 'provisioning';
    message = null;
  }

  const changed =
    serverIdsJson(serverIds) !== serverIdsJson(current) ||
    JSON.stringify(next) !== JSON.stringify(runtime) ||
    status !== env.status ||
    message !== env.status_message;
  if (changed) {
    await trx
      .updateTable('environments')
      .set({
        server_ids: serverIdsJson(serverIds),
        runtime: JSON.stringify(next),
        status,
        status_message: message,
        updated_at: isoNow(clock),
      })
      .where('id', '=', environmentId)
      .execute();
    await bumpRevision(trx);
  }
  return { environmentId, changed, serverIds, status, runtime: next };
}

/**
 * Place every environment that was provisioned but lacks servers (none online at the time, or
 * fewer than its replicas). Called when an app server joins or comes back online.
 */
export async function placeWaiting(trx: Transaction<DB>, dialect: Dialect, clock: Clock): Promise<PlacementResult[]> {
  await lockDesiredState(trx, dialect);
  const rows = await trx
    .selectFrom('environments')
    .select(['id', 'replicas', 'server_ids', 'runtime'])
    .where('status', '!=', 'deleting')
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  const out: PlacementResult[] = [];
  for (const r of rows) {
    const rt = parseRuntime(r.runtime);
    if (rt.pinned || rt.unixUser === null) continue;
    if (parseServerIds(r.server_ids).length >= r.replicas) continue;
    const res = await placeEnvironment(trx, dialect, r.id, clock);
    if (res?.changed) out.push(res);
  }
  return out;
}
