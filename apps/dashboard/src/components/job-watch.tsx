import type { Job, JobLog } from '@triplane/client';
import { useEffect, useRef, useState } from 'react';
import { isUnauthenticated } from '../api.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';
import { ErrorNotice, ProgressBar, StatusBadge } from '../ui.tsx';

export interface JobWatchState {
  job: Job | undefined;
  logs: JobLog[];
  error: unknown;
  /** The event stream is open (false once the job finished or when polling). */
  live: boolean;
}

/**
 * Follow a job live: `GET /jobs/{id}/events` (server-sent events over fetch, through the
 * client's watchJob, which reconnects and falls back to polling). Log lines accumulate.
 */
export function useJobWatch(jobId: string | undefined, initial?: Job): JobWatchState {
  const { client, expired } = useSession();
  const [state, setState] = useState<JobWatchState>({ job: initial, logs: [], error: undefined, live: false });
  useEffect(() => {
    if (!jobId) return;
    let live = true;
    setState((s) => ({ job: s.job?.id === jobId ? s.job : undefined, logs: [], error: undefined, live: true }));
    // Lines arrive from the history fetch and from the stream (which replays from the start):
    // keep them in seq order, once each.
    const addLogs = (lines: JobLog[]) =>
      setState((s) => {
        const last = s.logs.at(-1)?.seq ?? 0;
        const fresh = lines.filter((l) => l.seq > last);
        return fresh.length ? { ...s, logs: [...s.logs, ...fresh].slice(-2000) } : s;
      });
    // A finished job has no stream to replay its log: fetch what was written.
    client.jobs.logs(jobId, { after: 0, limit: 1000 }).then(
      (r) => live && addLogs(r.items),
      () => {},
    );
    const w = client.watchJob(jobId, (e) => {
      if (!live) return;
      if (e.type === 'log') addLogs([e.data as JobLog]);
      setState((s) => ({ ...s, job: e.job, live: e.via === 'stream' }));
    });
    w.done.then(
      (job) => live && setState((s) => ({ ...s, job, live: false })),
      (error: unknown) => {
        if (!live || (error instanceof DOMException && error.name === 'AbortError')) return;
        if (isUnauthenticated(error)) expired();
        setState((s) => ({ ...s, error, live: false }));
      },
    );
    return () => {
      live = false;
      w.close();
    };
  }, [jobId, client, expired]);
  return state;
}

export function JobSummary({ job, title }: { job: Job; title?: string }) {
  return (
    <div className="job-summary">
      <div className="job-line">
        <Link to={`/jobs/${job.id}`} className="mono">
          {title ?? job.kind}
        </Link>
        <StatusBadge status={job.state} />
        <span className="muted">{job.progress}%</span>
      </div>
      <ProgressBar value={job.progress} label={`${job.kind} progress`} state={job.state} />
      {job.message && <p className="job-message">{job.message}</p>}
      {job.error &&
        (job.state === 'queued' || job.state === 'running' ? (
          // the error of an earlier attempt: the job goes on, so it is not this job's outcome
          <p className="job-message">
            Attempt {Math.max(1, job.state === 'running' ? job.attempts - 1 : job.attempts)} of {job.maxAttempts} failed (
            {job.error.code}: {job.error.message}); retrying.
          </p>
        ) : (
          <p className="job-error">
            <code className="err-code">{job.error.code}</code> {job.error.message}
          </p>
        ))}
    </div>
  );
}

/** A job started from this page, followed live until it finishes. */
export function LiveJob({ job: initial, title, onFinished }: { job: Job; title?: string; onFinished?: (job: Job) => void }) {
  const w = useJobWatch(initial.id, initial);
  const job = w.job ?? initial;
  const finished = job.state === 'succeeded' || job.state === 'failed' || job.state === 'cancelled';
  const onFinishedRef = useRef(onFinished);
  onFinishedRef.current = onFinished;
  const fired = useRef(false);
  useEffect(() => {
    if (finished && !fired.current) {
      fired.current = true;
      onFinishedRef.current?.(job);
    }
  }, [finished, job]);
  return (
    <div className="live-job" aria-live="polite">
      <JobSummary job={job} title={title} />
      <ErrorNotice error={w.error} title="Lost track of the job" />
    </div>
  );
}
