import { type Clock, newId, TriplaneError } from '@triplane/kernel';
import type { Backup, BackupKind } from '@triplane/spec';
import type { Kysely, Selectable } from 'kysely';
import { parseServerIds } from '../desired/rows.ts';
import { AGENT_JOB_KINDS } from '../jobs/agent-kinds.ts';
import { enqueueJob, type JobRow } from '../jobs/enqueue.ts';
import type { BackupsTable, DB, EnvironmentsTable, SitesTable } from '../store/schema.ts';

export function toBackupDto(r: Selectable<BackupsTable>): Backup {
  return {
    id: r.id,
    siteId: r.site_id,
    environmentId: r.environment_id,
    siteName: r.site_name,
    environmentName: r.environment_name,
    serverId: r.server_id,
    dbSnapshotId: r.db_snapshot_id,
    filesSnapshotId: r.files_snapshot_id,
    kind: r.kind as BackupKind,
    state: r.state as Backup['state'],
    jobId: r.job_id,
    dbBytes: Number(r.db_bytes),
    filesBytes: Number(r.files_bytes),
    addedBytes: Number(r.added_bytes),
    snapshotTime: r.snapshot_time,
    createdAt: r.created_at,
  };
}

/** The app server that holds an environment's data (its first replica), or a clear error. */
export function dataServerOf(env: Selectable<EnvironmentsTable>): string {
  const ids = parseServerIds(env.server_ids);
  const first = ids[0];
  if (!first) {
    throw new TriplaneError(
      'TRIPLANE_ERR_BACKUP_NOT_PLACED',
      'the environment is not placed on an app server yet; nothing to back up',
    );
  }
  return first;
}

/** Enqueue a backup of an environment on its server (in the caller's transaction). */
export async function enqueueBackup(
  trx: Kysely<DB>,
  o: {
    env: Selectable<EnvironmentsTable>;
    site: Selectable<SitesTable>;
    kind: BackupKind;
    createdBy: string | null;
    idempotencyKey?: string;
    runAt?: number;
    clock: Clock;
  },
): Promise<{ job: JobRow; created: boolean }> {
  const k = AGENT_JOB_KINDS['backup.create'];
  return enqueueJob(trx, {
    kind: 'backup.create',
    lane: k?.lane ?? 'low',
    maxAttempts: k?.maxAttempts ?? 3,
    params: { backupId: newId('bak'), kind: o.kind, siteId: o.site.id, environmentId: o.env.id },
    orgId: o.site.org_id,
    siteId: o.site.id,
    environmentId: o.env.id,
    serverId: dataServerOf(o.env),
    createdBy: o.createdBy,
    idempotencyKey: o.idempotencyKey ?? null,
    ...(o.runAt !== undefined ? { runAt: o.runAt } : {}),
    clock: o.clock,
  });
}
