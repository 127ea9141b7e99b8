import type { Domain, Environment, Job, PurgeRequest, Role, SiteDetail } from '@triplane/client';
import type { WafEventList } from '@triplane/spec';
import { useEffect, useState } from 'react';
import { BackupsPanel, ClonePanel, StagingPanel } from '../components/data-panels.tsx';
import { DbBrowser } from '../components/db-browser.tsx';
import { FeatureSlot } from '../components/feature-slot.tsx';
import { FileManager } from '../components/file-manager.tsx';
import { JobSummary, LiveJob } from '../components/job-watch.tsx';
import { LogsPanel } from '../components/logs-panel.tsx';
import { MetricsPanel } from '../components/metrics-panel.tsx';
import { useAction, useApi } from '../hooks.ts';
import { Link, navigate } from '../router.tsx';
import { useRole } from '../session.tsx';
import { ActionButton, ConfirmDelete, Empty, ErrorNotice, Field, Guard, Loading, Section, StatusBadge, Time } from '../ui.tsx';

function formatBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(0)} MiB`;
  return `${Math.round(n / 1024)} KiB`;
}

function EnvironmentOverview({ env, role, onChanged }: { env: Environment; role: Role | undefined; onChanged: () => void }) {
  const act = useAction((c, action: 'restart' | 'stop' | 'start') => c.environments.action(env.id, action));
  const [job, setJob] = useState<Job>();
  const containers = env.observed.flatMap((o) => o.containers.map((c) => ({ ...c, serverId: o.serverId })));
  return (
    <Section
      title={`Environment ${env.name}`}
      actions={
        <div className="btn-row">
          {(['restart', 'stop', 'start'] as const).map((a) => (
            <ActionButton
              key={a}
              tone="plain"
              role={role}
              need="developer"
              busy={act.busy}
              onClick={async () => {
                const r = await act.run(a);
                if (r) {
                  setJob(r.job);
                  onChanged();
                }
              }}
            >
              {a[0]?.toUpperCase() + a.slice(1)}
            </ActionButton>
          ))}
        </div>
      }
    >
      <dl className="facts">
        <div>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={env.status} /> {env.statusMessage && <span className="muted">{env.statusMessage}</span>}
          </dd>
        </div>
        <div>
          <dt>Wanted</dt>
          <dd>{env.desiredState}</dd>
        </div>
        <div>
          <dt>Generation</dt>
          <dd>{env.generation}</dd>
        </div>
        <div>
          <dt>Replicas</dt>
          <dd>{env.replicas}</dd>
        </div>
        <div>
          <dt>Servers</dt>
          <dd className="mono">{env.serverIds.length ? env.serverIds.join(', ') : 'not placed yet'}</dd>
        </div>
        <div>
          <dt>Unix user</dt>
          <dd className="mono">{env.runtime.unixUser ?? '—'}</dd>
        </div>
        <div>
          <dt>Resources</dt>
          <dd>
            {env.resources.cpuMillis / 1000} CPU · {env.resources.memoryMb} MB · {env.resources.pids} pids
          </dd>
        </div>
        <div>
          <dt>Database</dt>
          <dd>{env.externalDatabase ? `${env.externalDatabase.host}:${env.externalDatabase.port}` : 'in the site pod'}</dd>
        </div>
      </dl>
      <ErrorNotice error={act.error} />
      {job && <LiveJob job={job} />}
      <h3>What the agents report</h3>
      {env.observed.length === 0 ? (
        <Empty>No agent has reported this environment yet.</Empty>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="sr-only">Containers of {env.name}</caption>
            <thead>
              <tr>
                <th scope="col">Server</th>
                <th scope="col">Container</th>
                <th scope="col">State</th>
                <th scope="col">Restarts</th>
                <th scope="col">CPU</th>
                <th scope="col">Memory</th>
              </tr>
            </thead>
            <tbody>
              {env.observed.map((o) =>
                o.containers.length === 0 ? (
                  <tr key={o.serverId}>
                    <td className="mono">{o.serverId}</td>
                    <td colSpan={5}>
                      <StatusBadge status={o.status} /> {o.message} <Time iso={o.at} />
                    </td>
                  </tr>
                ) : null,
              )}
              {containers.map((c) => (
                <tr key={`${c.serverId}/${c.name}`}>
                  <td className="mono">{c.serverId}</td>
                  <td>{c.name}</td>
                  <td>
                    <StatusBadge status={c.state} />
                  </td>
                  <td>{c.restarts}</td>
                  <td>{c.cpuPercent.toFixed(1)}%</td>
                  <td>{formatBytes(c.memoryBytes)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

function PhpSettings({ env, role, onChanged }: { env: Environment; role: Role | undefined; onChanged: () => void }) {
  const [php, setPhp] = useState(env.php);
  useEffect(() => setPhp(env.php), [env.php]);
  const save = useAction((c, p: typeof php) => c.environments.update(env.id, { php: p }));
  const num = (k: 'memoryLimitMb' | 'uploadMaxMb' | 'maxExecutionTimeS' | 'workers', label: string, min: number, max: number) => (
    <Field label={label}>
      {(id) => (
        <input
          id={id}
          type="number"
          min={min}
          max={max}
          required
          value={php[k]}
          onChange={(e) => setPhp({ ...php, [k]: Number(e.target.value) })}
        />
      )}
    </Field>
  );
  return (
    <Section title="PHP settings">
      <Guard role={role} need="developer">
        <form
          className="grid-form"
          onSubmit={async (e) => {
            e.preventDefault();
            if (await save.run(php)) onChanged();
          }}
        >
          <Field label="PHP version">{(id) => <input id={id} value={php.version} readOnly />}</Field>
          {num('memoryLimitMb', 'Memory limit (MB)', 32, 4096)}
          {num('uploadMaxMb', 'Upload size limit (MB)', 1, 2048)}
          {num('maxExecutionTimeS', 'Max execution time (s)', 5, 3600)}
          {num('workers', 'PHP-FPM workers', 1, 256)}
          <div className="field field-check">
            <input
              id={`opcache-${env.id}`}
              type="checkbox"
              checked={php.opcache}
              onChange={(e) => setPhp({ ...php, opcache: e.target.checked })}
            />
            <label htmlFor={`opcache-${env.id}`}>OPcache</label>
          </div>
          <div className="form-actions">
            <ActionButton type="submit" role={role} need="developer" busy={save.busy}>
              Save PHP settings
            </ActionButton>
            {save.result && !save.busy && <span role="status">Saved: generation {save.result.generation}.</span>}
          </div>
        </form>
      </Guard>
      <ErrorNotice error={save.error} title="Settings not saved" />
    </Section>
  );
}

function Domains({
  env,
  domains,
  role,
  onChanged,
}: {
  env: Environment;
  domains: Domain[];
  role: Role | undefined;
  onChanged: () => void;
}) {
  const [hostname, setHostname] = useState('');
  const add = useAction((c, h: string) => c.domains.add(env.id, { hostname: h }));
  const remove = useAction((c, id: string) => c.domains.remove(id));
  const primary = useAction((c, id: string) => c.domains.update(id, { primary: true }));
  return (
    <Section title="Domains">
      {domains.length === 0 ? (
        <Empty>No domain yet.</Empty>
      ) : (
        <ul className="list">
          {domains.map((d) => (
            <li key={d.id} className="list-row">
              <span className="mono">{d.hostname}</span>
              {/* What the edge serves today: every site host gets a leaf of the platform CA at its
                  first TLS handshake (docs/edge.md "Certificates"); public ACME certificates are
                  not issued yet, so browsers outside the platform must trust that CA. */}
              <span
                className="badge"
                title="Issued by the edge from the platform CA on the first TLS handshake; no public (ACME) certificate yet"
              >
                TLS: platform CA
              </span>
              {d.primary ? (
                <span className="badge badge-ok">primary</span>
              ) : (
                d.redirectToPrimary && <span className="muted">redirects to primary</span>
              )}
              <span className="spacer" />
              {!d.primary && (
                <ActionButton
                  tone="plain"
                  role={role}
                  need="developer"
                  busy={primary.busy}
                  onClick={async () => (await primary.run(d.id)) && onChanged()}
                  aria-label={`Make ${d.hostname} the primary domain`}
                >
                  Make primary
                </ActionButton>
              )}
              <ActionButton
                tone="danger"
                role={role}
                need="developer"
                busy={remove.busy}
                onClick={async () => {
                  await remove.run(d.id);
                  onChanged();
                }}
                aria-label={`Remove ${d.hostname}`}
              >
                Remove
              </ActionButton>
            </li>
          ))}
        </ul>
      )}
      <ErrorNotice error={remove.error ?? primary.error} />
      <Guard role={role} need="developer">
        <form
          className="inline-form"
          onSubmit={async (e) => {
            e.preventDefault();
            if (await add.run(hostname.trim())) {
              setHostname('');
              onChanged();
            }
          }}
        >
          <Field label="Add a domain">
            {(id) => (
              <input
                id={id}
                required
                value={hostname}
                onChange={(e) => setHostname(e.target.value)}
                placeholder="www.example.com"
              />
            )}
          </Field>
          <ActionButton type="submit" role={role} need="developer" busy={add.busy}>
            Add domain
          </ActionButton>
        </form>
      </Guard>
      <ErrorNotice error={add.error} title="Domain not added" />
    </Section>
  );
}

function Purge({ env, role }: { env: Environment; role: Role | undefined }) {
  const [mode, setMode] = useState<'urls' | 'tags' | 'all'>('urls');
  const [text, setText] = useState('');
  const purge = useAction((c, body: PurgeRequest) => c.environments.purge(env.id, body));
  const values = text
    .split(/\s+/)
    .map((v) => v.trim())
    .filter(Boolean);
  return (
    <Section title="Cache purge">
      <Guard role={role} need="developer">
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            const body: PurgeRequest = mode === 'all' ? { all: true } : mode === 'urls' ? { urls: values } : { tags: values };
            if (await purge.run(body)) setText('');
          }}
        >
          <fieldset className="radio-row">
            <legend>Purge by</legend>
            {(
              [
                ['urls', 'URL'],
                ['tags', 'Tag'],
                ['all', 'Everything'],
              ] as const
            ).map(([m, label]) => (
              <label key={m} className="radio">
                <input type="radio" name={`purge-${env.id}`} value={m} checked={mode === m} onChange={() => setMode(m)} /> {label}
              </label>
            ))}
          </fieldset>
          {mode !== 'all' && (
            <Field
              label={mode === 'urls' ? 'URLs or paths, one per line' : 'Cache tags, one per line'}
              help={
                mode === 'urls'
                  ? 'e.g. /shop/?page=2 or https://shop.example.com/cart'
                  : 'e.g. cat_p_42 (X-Magento-Tags, Surrogate-Key, Cache-Tag)'
              }
            >
              {(id) => <textarea id={id} rows={3} required value={text} onChange={(e) => setText(e.target.value)} />}
            </Field>
          )}
          <ActionButton type="submit" role={role} need="developer" busy={purge.busy} tone={mode === 'all' ? 'danger' : undefined}>
            {mode === 'all' ? 'Purge everything' : 'Purge'}
          </ActionButton>
        </form>
      </Guard>
      <ErrorNotice error={purge.error} title="Nothing was purged" />
      {purge.result && !purge.busy && (
        <p className="notice notice-ok" role="status">
          Purge #{purge.result.seq} recorded ({purge.result.kind}
          {purge.result.values.length ? `: ${purge.result.values.join(', ')}` : ''}); every edge applies it within moments.
        </p>
      )}
    </Section>
  );
}

function WafEvents({ env }: { env: Environment }) {
  const [action, setAction] = useState<'' | 'blocked' | 'detected'>('');
  const ev = useApi(
    `waf:${env.id}:${action}`,
    (c) => c.http.request<WafEventList>('GET', `/environments/${env.id}/waf/events`, { query: { limit: 50, action } }),
    15_000,
  );
  return (
    <Section
      title="Recent WAF events"
      actions={
        <div className="field field-inline">
          <label htmlFor={`waf-action-${env.id}`}>Show</label>
          <select id={`waf-action-${env.id}`} value={action} onChange={(e) => setAction(e.target.value as typeof action)}>
            <option value="">all</option>
            <option value="blocked">blocked</option>
            <option value="detected">detected only</option>
          </select>
        </div>
      }
    >
      {ev.loading && !ev.data && <Loading label="Loading WAF events…" />}
      <ErrorNotice error={ev.error} title="Could not load WAF events" />
      {ev.data && ev.data.items.length === 0 && <Empty>No WAF events for this environment.</Empty>}
      {ev.data && ev.data.items.length > 0 && (
        <ul className="waf-list">
          {ev.data.items.map((e) => (
            <li key={e.id} className="waf-event">
              <div className="waf-head">
                <StatusBadge status={e.action} />
                <span className="mono">
                  {e.method} {e.host}
                  {e.uri}
                </span>
                <span className="muted">
                  → {e.status} · score {e.anomalyScore} · {e.clientIp} · <Time iso={e.time} />
                </span>
              </div>
              <ul className="rules" aria-label="Matched rules">
                {e.rules.map((r) => (
                  <li key={r.id}>
                    <code>{r.id}</code> {r.msg}
                  </li>
                ))}
              </ul>
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}

function AddEnvironment({ siteId, role, onChanged }: { siteId: string; role: Role | undefined; onChanged: () => void }) {
  const [name, setName] = useState('');
  const create = useAction((c, n: string) => c.environments.create(siteId, { name: n }));
  return (
    <Section title="Add an environment">
      <p className="help">
        An empty environment with its own pod, Unix user and database; a copy of production is made under Staging.
      </p>
      <Guard role={role} need="developer">
        <form
          className="inline-form"
          onSubmit={async (e) => {
            e.preventDefault();
            if (await create.run(name.trim())) onChanged();
          }}
        >
          <Field label="Environment name">
            {(id) => <input id={id} required value={name} onChange={(e) => setName(e.target.value)} />}
          </Field>
          <ActionButton type="submit" role={role} need="developer" busy={create.busy}>
            Create environment
          </ActionButton>
        </form>
      </Guard>
      <ErrorNotice error={create.error} title="Environment not created" />
      {create.result && <LiveJob job={create.result.job} />}
    </Section>
  );
}

function DeleteEnvironment({ env, role, onDeleted }: { env: Environment; role: Role | undefined; onDeleted: () => void }) {
  const del = useAction((c) => c.environments.delete(env.id, env.name));
  return (
    <Section title={`Delete environment ${env.name}`}>
      <ConfirmDelete
        what="environment"
        name={env.name}
        consequence={`Removes ${env.name}'s pod, files and database on every server, after a pre-delete backup (kept 30 days). Production stays.`}
        role={role}
        need="admin"
        busy={del.busy}
        onConfirm={async () => {
          if (await del.run()) onDeleted();
        }}
      />
      <ErrorNotice error={del.error} title="Not deleted" />
      {del.result && <LiveJob job={del.result.job} />}
    </Section>
  );
}

function RecentJobs({ siteId }: { siteId: string }) {
  const jobs = useApi(`site-jobs:${siteId}`, (c) => c.jobs.list({ siteId, limit: 10 }), 5000);
  return (
    <Section title="Recent jobs" actions={<Link to={`/jobs?siteId=${siteId}`}>All jobs of this site</Link>}>
      <ErrorNotice error={jobs.error} />
      {jobs.loading && !jobs.data && <Loading />}
      {jobs.data?.items.length === 0 && <Empty>No jobs yet.</Empty>}
      <div className="job-stack">
        {jobs.data?.items.map((j) => (
          <JobSummary key={j.id} job={j} />
        ))}
      </div>
    </Section>
  );
}

export function SitePage({ id }: { id: string }) {
  const site = useApi<SiteDetail>(`site:${id}`, (c) => c.sites.get(id), 5000);
  const [envId, setEnvId] = useState<string>();
  const role = useRole(id, site.data?.orgId);
  const del = useAction((c, name: string) => c.sites.delete(id, name));

  useEffect(() => {
    if (site.data) document.title = `${site.data.name} · Triplane`;
  }, [site.data]);

  if (site.loading && !site.data) return <Loading label="Loading the site…" />;
  if (!site.data) return <ErrorNotice error={site.error} title="Could not load the site" />;
  const s = site.data;
  const env =
    s.environments.find((e) => e.id === envId) ?? s.environments.find((e) => e.name === 'production') ?? s.environments[0];

  return (
    <>
      <div className="page-head">
        <p className="crumbs">
          <Link to="/sites">Sites</Link> /
        </p>
        <h1 tabIndex={-1} className="page-title">
          {s.name} <StatusBadge status={s.status} />
        </h1>
        <p className="muted">
          {s.kind} · {s.plan} · your role: <strong>{role ?? 'none'}</strong> · created <Time iso={s.createdAt} />
        </p>
      </div>
      <ErrorNotice error={site.error} title="Could not refresh the site" />

      {s.environments.length > 1 && (
        <fieldset className="tabs">
          <legend className="sr-only">Environment shown</legend>
          {s.environments.map((e) => (
            <button key={e.id} type="button" aria-pressed={e.id === env?.id} className="tab" onClick={() => setEnvId(e.id)}>
              {e.name} <StatusBadge status={e.status} />
            </button>
          ))}
        </fieldset>
      )}

      {env && (
        <div className="grid-2">
          <div className="col">
            <EnvironmentOverview env={env} role={role} onChanged={site.reload} />
            <Domains
              env={env}
              domains={s.domains.filter((d) => d.environmentId === env.id)}
              role={role}
              onChanged={site.reload}
            />
            <Purge env={env} role={role} />
            <PhpSettings env={env} role={role} onChanged={site.reload} />
          </div>
          <div className="col">
            <MetricsPanel key={env.id} environmentId={env.id} />
            <WafEvents env={env} />
            <FeatureSlot
              title="Backups"
              purpose="Daily and on-demand snapshots, restore with a confirmation of what is overwritten, download."
              probe={{ get: `/environments/${env.id}/backups` }}
              probeKey={env.id}
            >
              {() => <BackupsPanel env={env} siteName={s.name} role={role} />}
            </FeatureSlot>
            <RecentJobs siteId={s.id} />
          </div>
        </div>
      )}

      {env && <LogsPanel key={env.id} environmentId={env.id} />}

      <div className="grid-2">
        <div className="col">
          <AddEnvironment siteId={s.id} role={role} onChanged={site.reload} />
          {env && (
            <FeatureSlot
              title="Staging"
              purpose="Create staging from production; push staging to production or pull production into staging, choosing files, database or tables."
              probe={{ operation: { method: 'post', path: '/sites/{id}/staging' } }}
              probeKey="staging"
            >
              {() => <StagingPanel site={s} environments={s.environments} env={env} role={role} onChanged={site.reload} />}
            </FeatureSlot>
          )}
          <FeatureSlot
            title="Clone"
            purpose="Clone this site into a new site, with its URLs rewritten safely."
            probe={{ operation: { method: 'post', path: '/sites/{id}/clone' } }}
            probeKey="clone"
          >
            {() => <ClonePanel site={s} role={role} />}
          </FeatureSlot>
        </div>
        <div className="col">
          {env && (
            <Section title="File manager">
              {/* remounted when the status changes: a listing tried before the pod existed is tried again */}
              <FileManager key={`${env.id}:${env.status}`} env={env} role={role} />
            </Section>
          )}
          {env && (
            <Section title="Database">
              <DbBrowser key={`${env.id}:${env.status}`} env={env} />
            </Section>
          )}
          {env && env.name !== 'production' && <DeleteEnvironment env={env} role={role} onDeleted={site.reload} />}
          <Section title="Delete this site">
            <ConfirmDelete
              what="site"
              name={s.name}
              consequence={`Deletes ${s.name} with every environment, its files, databases and domains. A backup of each running environment is taken first and kept 30 days (triplane backup deleted lists them); if it fails, nothing is deleted.`}
              role={role}
              need="admin"
              busy={del.busy}
              onConfirm={() => void del.run(s.name).then((r) => r && site.reload())}
            />
            <ErrorNotice error={del.error} title="Not deleted" />
            {del.result && (
              <>
                <LiveJob job={del.result.job} title={`Deleting ${s.name}`} />
                <button type="button" className="btn btn-plain" onClick={() => navigate('/sites')}>
                  Back to the sites
                </button>
              </>
            )}
          </Section>
        </div>
      </div>
    </>
  );
}
