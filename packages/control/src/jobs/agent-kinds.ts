import { type Clock, isoNow, TriplaneError } from '@triplane/kernel';
import type { BackupRecordRequest, Lane } from '@triplane/spec';
import type { Kysely } from 'kysely';
import { sourceSpecOf } from '../backups/source-spec.ts';
import type { DB } from '../store/schema.ts';
import type { JobRow } from './enqueue.ts';

/**
 * Kinds of jobs that run on an app server's agent (enqueued with `serverId`), and what the
 * control plane does in the same transaction as the job's completion. The executors are in
 * packages/agent/src/backup/.
 */
export interface AgentJobKind {
  kind: string;
  lane: Lane;
  maxAttempts: number;
  /** Lease the agent holds between progress calls, ms. */
  leaseMs: number;
  /** Runs inside the completion's transaction; a throw fails the job (terminal) instead. */
  onComplete?(trx: Kysely<DB>, job: JobRow, result: unknown, clock: Clock): Promise<void>;
}

function params(job: JobRow): Record<string, unknown> {
  try {
    return JSON.parse(job.params) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/**
 * Record a backup an agent job made (`POST /agents/{id}/jobs/{jobId}/backups`) — only now, with
 * the snapshot ids restic printed, is it listed. The environment must be one the job acts on
 * (its own, or the source of a clone/sync). Idempotent by backup id (a retried call).
 */
export async function recordBackup(trx: Kysely<DB>, job: JobRow, rec: BackupRecordRequest, clock: Clock): Promise<void> {
  const p = params(job);
  const allowed = new Set(
    [job.environment_id, p.sourceEnvironmentId, p.targetEnvironmentId].filter((x) => typeof x === 'string'),
  );
  if (!allowed.has(rec.environmentId)) {
    throw new TriplaneError('TRIPLANE_ERR_FORBIDDEN', 'this job does not act on that environment');
  }
  const existing = await trx.selectFrom('backups').select('id').where('id', '=', rec.backupId).executeTakeFirst();
  if (existing) return;
  const env = await trx
    .selectFrom('environments')
    .innerJoin('sites', 'sites.id', 'environments.site_id')
    .select(['environments.name as env_name', 'sites.name as site_name', 'sites.id as site_id', 'sites.org_id as org_id'])
    .where('environments.id', '=', rec.environmentId)
    .executeTakeFirst();
  if (!env) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'environment not found');
  await trx
    .insertInto('backups')
    .values({
      id: rec.backupId,
      org_id: env.org_id,
      site_id: env.site_id,
      environment_id: rec.environmentId,
      site_name: env.site_name,
      environment_name: env.env_name,
      server_id: job.server_id ?? '',
      db_snapshot_id: rec.dbSnapshotId,
      files_snapshot_id: rec.filesSnapshotId,
      kind: rec.kind,
      state: 'available',
      job_id: job.id,
      db_bytes: rec.dbBytes,
      files_bytes: rec.filesBytes,
      added_bytes: rec.addedBytes,
      snapshot_time: rec.snapshotTime,
      created_at: isoNow(clock),
      // what restore-as-site needs once the site is gone (kind, plan, PHP, limits, URL)
      source_spec: JSON.stringify(await sourceSpecOf(trx, rec.environmentId)),
    })
    .execute();
}

/** Backups the agent's retention run removed: marked pruned (kept for the record). */
async function markPruned(trx: Kysely<DB>, job: JobRow, result: unknown): Promise<void> {
  const r = result as { removedBackupIds?: unknown } | null;
  const ids = Array.isArray(r?.removedBackupIds) ? r.removedBackupIds.filter((x): x is string => typeof x === 'string') : [];
  if (ids.length === 0) return;
  await trx
    .updateTable('backups')
    .set({ state: 'pruned' })
    .where('id', 'in', ids)
    .where('server_id', '=', job.server_id ?? '')
    .execute();
}

export const AGENT_JOB_KINDS: Record<string, AgentJobKind> = {
  'backup.create': { kind: 'backup.create', lane: 'low', maxAttempts: 3, leaseMs: 90_000 },
  'backup.restore': { kind: 'backup.restore', lane: 'low', maxAttempts: 3, leaseMs: 90_000 },
  'backup.prune': { kind: 'backup.prune', lane: 'low', maxAttempts: 3, leaseMs: 90_000, onComplete: markPruned },
  // clone, staging, push, pull: the target may still be provisioning when the job is first
  // claimed (a retry with backoff waits for it), hence more attempts.
  'env.sync': { kind: 'env.sync', lane: 'low', maxAttempts: 10, leaseMs: 90_000 },
  'backup.check': { kind: 'backup.check', lane: 'low', maxAttempts: 2, leaseMs: 90_000 },
  // a backup as a .tar.gz streamed to the control plane for download (routes/backups/download.ts)
  'backup.export': { kind: 'backup.export', lane: 'low', maxAttempts: 3, leaseMs: 90_000 },
  // File manager and database browser (routes/files): a person waits for the answer, so the
  // interactive lane, claimed by the agent's second runner; never retried (the API answered).
  ...Object.fromEntries(
    ['files.list', 'files.read', 'files.write', 'files.delete', 'files.mkdir', 'db.tables', 'db.rows'].map((k) => [
      k,
      { kind: k, lane: 'interactive' as const, maxAttempts: 1, leaseMs: 60_000 },
    ]),
  ),
};

export function agentJobKind(kind: string): AgentJobKind | undefined {
  return Object.hasOwn(AGENT_JOB_KINDS, kind) ? AGENT_JOB_KINDS[kind] : undefined;
}
