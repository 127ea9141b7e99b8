import type { Environment, Job, Role, Site } from '@triplane/client';
import type { Backup, BackupList, RestoreScope, SyncDatabase } from '@triplane/spec';
import { useState } from 'react';
import { useAction, useApi } from '../hooks.ts';
import { Link } from '../router.tsx';
import { ActionButton, Empty, ErrorNotice, Field, Guard, Loading, StatusBadge, Time } from '../ui.tsx';
import { LiveJob } from './job-watch.tsx';

/**
 * Panels of the backup/clone/staging API (docs: packages/spec/src/api/backups.ts). Each is
 * rendered by its FeatureSlot once the route answers, and calls the API directly through the
 * client's transport (so they only depend on the wire types).
 */

interface CopyResponse {
  site: Site;
  environment: Environment;
  job: Job;
  syncJob: Job;
}

function size(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${Math.max(1, Math.round(n / 1024))} KiB`;
}

const SCOPE_TEXT: Record<RestoreScope, string> = {
  full: 'the database and the files',
  database: 'the database',
  files: 'the files (uploads, themes, plugins)',
};

function RestoreForm(props: {
  backup: Backup;
  env: Environment;
  siteName: string;
  role: Role | undefined;
  onDone: (job: Job) => void;
}) {
  const [scope, setScope] = useState<RestoreScope>('full');
  const [sure, setSure] = useState(false);
  const restore = useAction((c, s: RestoreScope) =>
    c.http.request<{ job: Job }>('POST', `/backups/${props.backup.id}/restore`, { body: { scope: s } }),
  );
  const id = `restore-${props.backup.id}`;
  return (
    <form
      className="restore"
      aria-label={`Confirm the restore of the backup of ${new Date(props.backup.snapshotTime).toLocaleString()}`}
      onSubmit={async (e) => {
        e.preventDefault();
        const r = await restore.run(scope);
        if (r) props.onDone(r.job);
      }}
    >
      <Field label="Restore">
        {(fid) => (
          <select id={fid} value={scope} onChange={(e) => setScope(e.target.value as RestoreScope)}>
            <option value="full">database and files</option>
            <option value="database" disabled={!props.backup.dbSnapshotId}>
              database only
            </option>
            <option value="files">files only</option>
          </select>
        )}
      </Field>
      <p className="warn-text">
        This overwrites {SCOPE_TEXT[scope]} of <strong>{props.env.name}</strong> of <strong>{props.siteName}</strong> with the
        snapshot of {new Date(props.backup.snapshotTime).toLocaleString()}. A safety backup is taken first.
      </p>
      <div className="field field-check">
        <input id={id} type="checkbox" checked={sure} onChange={(e) => setSure(e.target.checked)} />
        <label htmlFor={id}>I understand what will be overwritten</label>
      </div>
      <ActionButton type="submit" tone="danger" role={props.role} need="developer" busy={restore.busy} disabled={!sure}>
        Restore
      </ActionButton>
      <ErrorNotice error={restore.error} title="Not restored" />
    </form>
  );
}

/**
 * Download: `POST /backups/{id}/download` makes the app server export the snapshots as a
 * .tar.gz (a `backup.export` job); once it succeeded, `GET /jobs/{job}/artifact` is the file
 * (kept 24 h), fetched by the browser itself with the session cookie.
 */
function DownloadBackup({ backup, role }: { backup: Backup; role: Role | undefined }) {
  const prepare = useAction((c) => c.backups.download(backup.id));
  const [done, setDone] = useState<Job>();
  const job = prepare.result?.job;
  const name = (job?.params as { filename?: string } | undefined)?.filename ?? 'backup.tar.gz';
  return (
    <>
      <ActionButton
        tone="plain"
        role={role}
        need="developer"
        busy={prepare.busy || (job !== undefined && done === undefined)}
        onClick={async () => {
          setDone(undefined);
          await prepare.run();
        }}
        aria-label={`Download the backup of ${new Date(backup.snapshotTime).toLocaleString()}`}
      >
        Download
      </ActionButton>
      {(prepare.error !== undefined || job) && (
        <div className="backup-download">
          <ErrorNotice error={prepare.error} title="Download not prepared" />
          {job && <LiveJob key={job.id} job={job} title="Preparing the archive" onFinished={setDone} />}
          {done?.state === 'succeeded' && (
            <a className="btn btn-primary" href={`/api/v1/jobs/${encodeURIComponent(done.id)}/artifact`} download={name}>
              Save {name}
            </a>
          )}
        </div>
      )}
    </>
  );
}

export function BackupsPanel(props: { env: Environment; siteName: string; role: Role | undefined }) {
  const { env, role } = props;
  const list = useApi(`backups:${env.id}`, (c) => c.http.request<BackupList>('GET', `/environments/${env.id}/backups`), 15_000);
  const take = useAction((c) => c.http.request<{ job: Job }>('POST', `/environments/${env.id}/backups`, { body: {} }));
  const [restoring, setRestoring] = useState<string>();
  const [job, setJob] = useState<Job>();
  return (
    <>
      <div className="btn-row">
        <ActionButton
          role={role}
          need="developer"
          busy={take.busy}
          onClick={async () => {
            const r = await take.run();
            if (r) setJob(r.job);
          }}
        >
          Take a backup now
        </ActionButton>
      </div>
      <ErrorNotice error={take.error} title="No backup taken" />
      {job && <LiveJob key={job.id} job={job} onFinished={list.reload} />}
      {list.loading && !list.data && <Loading label="Loading backups…" />}
      <ErrorNotice error={list.error} title="Could not list the backups" />
      {list.data?.items.length === 0 && <Empty>No backups yet.</Empty>}
      {list.data && list.data.items.length > 0 && (
        <ul className="list">
          {list.data.items.map((b) => (
            <li key={b.id} className="backup">
              <div className="list-row">
                <Time iso={b.snapshotTime} />
                <span className="badge badge-muted">{b.kind}</span>
                {b.state !== 'available' && <StatusBadge status={b.state} />}
                <span className="muted small">
                  db {size(b.dbBytes)} · files {size(b.filesBytes)} · +{size(b.addedBytes)} stored
                </span>
                <span className="spacer" />
                {b.state === 'available' && <DownloadBackup backup={b} role={role} />}
                {b.state === 'available' && (
                  <button
                    type="button"
                    className="btn btn-plain"
                    aria-expanded={restoring === b.id}
                    onClick={() => setRestoring(restoring === b.id ? undefined : b.id)}
                  >
                    Restore…
                  </button>
                )}
              </div>
              {restoring === b.id && (
                <RestoreForm
                  backup={b}
                  env={env}
                  siteName={props.siteName}
                  role={role}
                  onDone={(j) => {
                    setRestoring(undefined);
                    setJob(j);
                  }}
                />
              )}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

const DB_CHOICES: [SyncDatabase, string][] = [
  ['woo-safe', 'all tables except orders, customers, sessions and users (WooCommerce-safe)'],
  ['all', 'every table'],
  ['tables', 'only the tables I name'],
  ['none', 'no database'],
];

/** Staging: create one from production; push an environment to production or pull production into it. */
export function StagingPanel(props: {
  site: Site;
  environments: Environment[];
  env: Environment;
  role: Role | undefined;
  onChanged: () => void;
}) {
  const { env, role } = props;
  const [name, setName] = useState('staging');
  const [dir, setDir] = useState<'push' | 'pull'>('push');
  const [files, setFiles] = useState(true);
  const [database, setDatabase] = useState<SyncDatabase>('woo-safe');
  const [tables, setTables] = useState('');
  const [job, setJob] = useState<Job>();
  const create = useAction((c, n: string) =>
    c.http.request<CopyResponse>('POST', `/sites/${props.site.id}/staging`, { body: { name: n } }),
  );
  const sync = useAction((c, body: Record<string, unknown>) =>
    c.http.request<{ job: Job }>('POST', `/environments/${env.id}/${dir}`, { body }),
  );
  const prod = props.environments.find((e) => e.name === 'production');
  const isProd = env.name === 'production';
  const target = dir === 'push' ? 'production' : env.name;
  const what = [files ? 'the files' : '', database === 'none' ? '' : database === 'tables' ? 'the named tables' : 'the database']
    .filter(Boolean)
    .join(' and ');

  if (isProd) {
    return (
      <Guard role={role} need="developer">
        <form
          className="inline-form"
          onSubmit={async (e) => {
            e.preventDefault();
            const r = await create.run(name.trim());
            if (r) {
              setJob(r.syncJob);
              props.onChanged();
            }
          }}
        >
          <Field label="Staging environment name">
            {(id) => <input id={id} required value={name} onChange={(e) => setName(e.target.value)} />}
          </Field>
          <ActionButton type="submit" role={role} need="developer" busy={create.busy}>
            Create staging from production
          </ActionButton>
        </form>
        <p className="help">Staging copies production's files and database, is marked noindex, and gets its own domain.</p>
        <ErrorNotice error={create.error} title="Staging not created" />
        {job && <LiveJob key={job.id} job={job} title="Filling staging from production" />}
      </Guard>
    );
  }
  return (
    <Guard role={role} need="developer">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          const body: Record<string, unknown> = { files, database };
          if (database === 'tables') body.tables = tables.split(/[\s,]+/).filter(Boolean);
          const r = await sync.run(body);
          if (r) setJob(r.job);
        }}
      >
        <fieldset className="radio-row">
          <legend>Direction</legend>
          <label className="radio">
            <input type="radio" name={`dir-${env.id}`} checked={dir === 'push'} onChange={() => setDir('push')} /> push {env.name}{' '}
            → production
          </label>
          <label className="radio">
            <input type="radio" name={`dir-${env.id}`} checked={dir === 'pull'} onChange={() => setDir('pull')} /> pull production
            → {env.name}
          </label>
        </fieldset>
        <div className="field field-check">
          <input id={`files-${env.id}`} type="checkbox" checked={files} onChange={(e) => setFiles(e.target.checked)} />
          <label htmlFor={`files-${env.id}`}>Files</label>
        </div>
        <Field label="Database">
          {(id) => (
            <select id={id} value={database} onChange={(e) => setDatabase(e.target.value as SyncDatabase)}>
              {DB_CHOICES.map(([v, label]) => (
                <option key={v} value={v}>
                  {label}
                </option>
              ))}
            </select>
          )}
        </Field>
        {database === 'tables' && (
          <Field label="Tables" help="space or comma separated, e.g. wp_options wp_posts">
            {(id) => <input id={id} required value={tables} onChange={(e) => setTables(e.target.value)} />}
          </Field>
        )}
        <p className="warn-text">
          Overwrites {what || 'nothing'} of <strong>{target}</strong>
          {dir === 'push' && prod ? ' (a pre-push backup of production is taken first)' : ''}.
        </p>
        <ActionButton type="submit" tone="danger" role={role} need="developer" busy={sync.busy} disabled={!what}>
          {dir === 'push' ? 'Push to production' : `Pull into ${env.name}`}
        </ActionButton>
      </form>
      <ErrorNotice error={sync.error} title="Nothing copied" />
      {job && <LiveJob key={job.id} job={job} />}
    </Guard>
  );
}

/** Clone the site into a new one (from live data), URLs rewritten for the new domain. */
export function ClonePanel(props: { site: Site; role: Role | undefined }) {
  const [name, setName] = useState(`${props.site.name}-copy`.slice(0, 40));
  const [domains, setDomains] = useState('');
  const clone = useAction((c, body: { name: string; domains?: string[] }) =>
    c.http.request<CopyResponse>('POST', `/sites/${props.site.id}/clone`, { body }),
  );
  return (
    <Guard role={props.role} need="admin">
      <form
        className="inline-form"
        onSubmit={async (e) => {
          e.preventDefault();
          const ds = domains.split(/[\s,]+/).filter(Boolean);
          await clone.run({ name: name.trim(), ...(ds.length ? { domains: ds } : {}) });
        }}
      >
        <Field label="New site name">
          {(id) => <input id={id} required value={name} onChange={(e) => setName(e.target.value)} />}
        </Field>
        <Field label="Its domains" help="optional">
          {(id) => <input id={id} value={domains} onChange={(e) => setDomains(e.target.value)} placeholder="copy.example.com" />}
        </Field>
        <ActionButton type="submit" role={props.role} need="admin" busy={clone.busy}>
          Clone site
        </ActionButton>
      </form>
      <ErrorNotice error={clone.error} title="Not cloned" />
      {clone.result && (
        <>
          <p>
            New site <Link to={`/sites/${clone.result.site.id}`}>{clone.result.site.name}</Link>:
          </p>
          <LiveJob job={clone.result.syncJob} title={`Copying ${props.site.name} into ${clone.result.site.name}`} />
        </>
      )}
    </Guard>
  );
}
