import { type Clock, isoNow, newSortableId, systemClock } from '@triplane/kernel';
import type { Lane } from '@triplane/spec';
import type { Kysely, Selectable } from 'kysely';
import type { DB, JobsTable } from '../store/schema.ts';

export const LANE_PRIORITY: Record<Lane, number> = { interactive: 0, normal: 1, low: 2 };

export interface EnqueueOptions {
  kind: string;
  lane?: Lane;
  params?: Record<string, unknown>;
  orgId?: string | null;
  siteId?: string | null;
  environmentId?: string | null;
  /** Same key → the existing job is returned instead of a new one. */
  idempotencyKey?: string | null;
  maxAttempts?: number;
  /** Not before this epoch ms. */
  runAt?: number;
  createdBy?: string | null;
  /** Run by this app server's agent (claimed through the agent protocol), not a control worker. */
  serverId?: string | null;
  clock?: Clock;
}

export type JobRow = Selectable<JobsTable>;

/**
 * Put a job on the durable queue. Call inside the transaction that makes the change the
 * job acts on, so that the change and its job commit together.
 * Returns `{ job, created }`; `created` is false when the idempotency key matched.
 */
export async function enqueueJob(trx: Kysely<DB>, o: EnqueueOptions): Promise<{ job: JobRow; created: boolean }> {
  const clock = o.clock ?? systemClock;
  if (o.idempotencyKey) {
    const existing = await trx.selectFrom('jobs').selectAll().where('idempotency_key', '=', o.idempotencyKey).executeTakeFirst();
    if (existing) return { job: existing, created: false };
  }
  const lane = o.lane ?? 'normal';
  const now = isoNow(clock);
  const job: JobRow = {
    id: newSortableId('job', clock.now()),
    kind: o.kind,
    lane,
    priority: LANE_PRIORITY[lane],
    state: 'queued',
    org_id: o.orgId ?? null,
    site_id: o.siteId ?? null,
    environment_id: o.environmentId ?? null,
    params: JSON.stringify(o.params ?? {}),
    result: null,
    error: null,
    progress: 0,
    message: 'queued',
    attempts: 0,
    max_attempts: o.maxAttempts ?? 5,
    run_at: o.runAt ?? clock.now(),
    lease_owner: null,
    lease_expires_at: null,
    idempotency_key: o.idempotencyKey ?? null,
    cancel_requested: 0,
    created_by: o.createdBy ?? null,
    created_at: now,
    updated_at: now,
    started_at: null,
    finished_at: null,
    server_id: o.serverId ?? null,
  };
  await trx.insertInto('jobs').values(job).execute();
  return { job, created: true };
}
