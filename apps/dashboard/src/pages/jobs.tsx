import type { JobState } from '@triplane/client';
import { useEffect, useRef, useState } from 'react';
import { useJobWatch } from '../components/job-watch.tsx';
import { useAction, useApi } from '../hooks.ts';
import { Link, navigate, useLocation } from '../router.tsx';
import { useSession } from '../session.tsx';
import { ActionButton, Empty, ErrorNotice, Loading, ProgressBar, Section, StatusBadge, Time } from '../ui.tsx';

const STATES: JobState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

/** Jobs of the selected organization, newest first; refreshed every few seconds while open. */
export function JobsPage() {
  const { orgId } = useSession();
  const { query } = useLocation();
  const state = (query.get('state') ?? '') as JobState | '';
  const kind = query.get('kind') ?? '';
  const siteId = query.get('siteId') ?? '';
  const [kindInput, setKindInput] = useState(kind);
  const setQuery = (k: string, v: string) => {
    const q = new URLSearchParams(query);
    if (v) q.set(k, v);
    else q.delete(k);
    const s = q.toString();
    navigate(`/jobs${s ? `?${s}` : ''}`, { replace: true });
  };
  const jobs = useApi(
    `jobs:${orgId}:${state}:${kind}:${siteId}`,
    (c) => c.jobs.list({ orgId, state: state || undefined, kind: kind || undefined, siteId: siteId || undefined, limit: 100 }),
    3000,
  );
  return (
    <Section title="Jobs">
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery('kind', kindInput.trim());
        }}
      >
        <div className="field field-inline">
          <label htmlFor="job-state">State</label>
          <select id="job-state" value={state} onChange={(e) => setQuery('state', e.target.value)}>
            <option value="">any</option>
            {STATES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </div>
        <div className="field field-inline">
          <label htmlFor="job-kind">Kind</label>
          <input id="job-kind" value={kindInput} onChange={(e) => setKindInput(e.target.value)} placeholder="site.provision" />
        </div>
        <button type="submit" className="btn btn-plain">
          Apply
        </button>
        {siteId && (
          <button type="button" className="btn btn-plain" onClick={() => setQuery('siteId', '')}>
            All sites
          </button>
        )}
      </form>
      {jobs.loading && !jobs.data && <Loading label="Loading jobs…" />}
      <ErrorNotice error={jobs.error} title="Could not load the jobs" />
      {jobs.data?.items.length === 0 && <Empty>No jobs match.</Empty>}
      {jobs.data && jobs.data.items.length > 0 && (
        <div className="table-wrap">
          <table className="table">
            <caption className="sr-only">Jobs, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">State</th>
                <th scope="col" className="w-progress">
                  Progress
                </th>
                <th scope="col">Message</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {jobs.data.items.map((j) => (
                <tr key={j.id}>
                  <th scope="row">
                    <Link to={`/jobs/${j.id}`}>{j.kind}</Link>
                    <div className="mono small muted">{j.id}</div>
                  </th>
                  <td>
                    <StatusBadge status={j.state} />
                  </td>
                  <td>
                    <ProgressBar value={j.progress} label={`${j.kind} ${j.id} progress`} state={j.state} />
                  </td>
                  <td className="clip">{j.error ? `${j.error.code}: ${j.error.message}` : j.message}</td>
                  <td>
                    <Time iso={j.createdAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

/** One job, live: progress and log lines over server-sent events. */
export function JobPage({ id }: { id: string }) {
  const { roleIn } = useSession();
  const w = useJobWatch(id);
  const job = w.job;
  const role = job ? roleIn(job.orgId ?? undefined, job.siteId ?? undefined) : undefined;
  const cancel = useAction((c) => c.jobs.cancel(id));
  const retry = useAction((c) => c.jobs.retry(id));
  const logEnd = useRef<HTMLDivElement>(null);
  const [follow, setFollow] = useState(true);
  useEffect(() => {
    document.title = `Job ${job?.kind ?? id} · Triplane`;
  }, [job?.kind, id]);
  useEffect(() => {
    if (follow && w.logs.length) logEnd.current?.scrollIntoView({ block: 'nearest' });
  }, [w.logs.length, follow]);

  if (!job)
    return w.error ? <ErrorNotice error={w.error} title="Could not load the job" /> : <Loading label="Loading the job…" />;
  const active = job.state === 'queued' || job.state === 'running';
  return (
    <>
      <div className="page-head">
        <p className="crumbs">
          <Link to="/jobs">Jobs</Link> /
        </p>
        <h1 tabIndex={-1} className="page-title">
          {job.kind} <StatusBadge status={job.state} />
        </h1>
        <p className="muted mono">{job.id}</p>
      </div>
      <Section
        title="Progress"
        actions={
          <div className="btn-row">
            {active && (
              <ActionButton tone="danger" role={role} need="developer" busy={cancel.busy} onClick={() => void cancel.run()}>
                Cancel
              </ActionButton>
            )}
            {(job.state === 'failed' || job.state === 'cancelled') && (
              <ActionButton role={role} need="developer" busy={retry.busy} onClick={() => void retry.run()}>
                Retry
              </ActionButton>
            )}
          </div>
        }
      >
        <ProgressBar value={job.progress} label="Job progress" state={job.state} />
        <p aria-live="polite">
          {job.progress}% · {job.message || 'no message'} {w.live && <span className="badge badge-ok">live</span>}
        </p>
        {job.error && (
          <p className="job-error">
            <code className="err-code">{job.error.code}</code> {job.error.message}
          </p>
        )}
        <ErrorNotice error={w.error ?? cancel.error ?? retry.error} />
        <dl className="facts">
          <div>
            <dt>Lane</dt>
            <dd>{job.lane}</dd>
          </div>
          <div>
            <dt>Attempts</dt>
            <dd>
              {job.attempts} of {job.maxAttempts}
            </dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>
              <Time iso={job.createdAt} />
            </dd>
          </div>
          <div>
            <dt>Started</dt>
            <dd>
              <Time iso={job.startedAt} />
            </dd>
          </div>
          <div>
            <dt>Finished</dt>
            <dd>
              <Time iso={job.finishedAt} />
            </dd>
          </div>
          {job.siteId && (
            <div>
              <dt>Site</dt>
              <dd>
                <Link to={`/sites/${job.siteId}`}>open the site</Link>
              </dd>
            </div>
          )}
        </dl>
      </Section>
      <Section
        title="Log"
        actions={
          <label className="check">
            <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
          </label>
        }
      >
        {w.logs.length === 0 ? (
          <Empty>No log lines yet.</Empty>
        ) : (
          <div className="log" role="log" aria-label="Job log">
            {w.logs.map((l) => (
              <div key={l.seq} className={`log-line log-${l.level}`}>
                <span className="log-time">{new Date(l.at).toLocaleTimeString()}</span>{' '}
                <span className="log-level">{l.level}</span> {l.message}
              </div>
            ))}
            <div ref={logEnd} />
          </div>
        )}
      </Section>
    </>
  );
}
