import type { Job, JobError, JobLog, JobLogLevel, JobState, Lane } from '@triplane/spec';
import type { JobRow } from './enqueue.ts';

function parseJson(s: string | null): unknown {
  if (s === null) return null;
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}

/** A jobs row → the API's Job (spec/api/jobs.ts). Lease internals stay inside. */
export function toJobDto(r: JobRow): Job {
  return {
    id: r.id,
    kind: r.kind,
    lane: r.lane as Lane,
    state: r.state as JobState,
    orgId: r.org_id,
    siteId: r.site_id,
    environmentId: r.environment_id,
    params: parseJson(r.params) ?? {},
    result: parseJson(r.result),
    error: parseJson(r.error) as JobError | null,
    progress: r.progress,
    message: r.message,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    runAt: new Date(Number(r.run_at)).toISOString(),
    cancelRequested: r.cancel_requested === 1,
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    serverId: r.server_id ?? null,
  };
}

export function toJobLogDto(r: { seq: number; at: string; level: string; message: string }): JobLog {
  return { seq: Number(r.seq), at: r.at, level: r.level as JobLogLevel, message: r.message };
}
