import type { CreateSiteRequest, CreateSiteResponse, Site } from '@triplane/client';
import { useMemo, useState } from 'react';
import { DeletedSitesBackups } from '../components/deleted-backups.tsx';
import { LiveJob } from '../components/job-watch.tsx';
import { useAction, useApi } from '../hooks.ts';
import { Link } from '../router.tsx';
import { useRole, useSession } from '../session.tsx';
import { ActionButton, Empty, ErrorNotice, Field, Guard, Loading, OnceSecret, Section, StatusBadge, Time } from '../ui.tsx';

const KINDS = ['wordpress', 'woocommerce', 'magento', 'php'] as const;
const PLANS = ['essentials', 'pro'] as const;

function AddSite({ orgId, onCreated }: { orgId: string; onCreated: () => void }) {
  const role = useRole();
  const [name, setName] = useState('');
  const [kind, setKind] = useState<(typeof KINDS)[number]>('wordpress');
  const [plan, setPlan] = useState<(typeof PLANS)[number]>('essentials');
  const [domains, setDomains] = useState('');
  const [db, setDb] = useState({ host: '', port: '3306', name: '', user: '' });
  const create = useAction((c, body: CreateSiteRequest) => c.sites.create(body));
  const [created, setCreated] = useState<CreateSiteResponse>();

  return (
    <Section title="Add a site">
      <Guard role={role} need="admin">
        <form
          className="grid-form"
          onSubmit={async (e) => {
            e.preventDefault();
            const body: CreateSiteRequest = { orgId, name: name.trim(), kind, plan };
            const ds = domains
              .split(/[\s,]+/)
              .map((d) => d.trim())
              .filter(Boolean);
            if (ds.length) body.domains = ds;
            if (plan === 'pro') body.externalDatabase = { host: db.host, port: Number(db.port), name: db.name, user: db.user };
            const r = await create.run(body);
            if (r) {
              setCreated(r);
              setName('');
              setDomains('');
              onCreated();
            }
          }}
        >
          <Field label="Name" help="lower-case letters, digits and dashes, e.g. shop">
            {(id) => (
              <input
                id={id}
                required
                value={name}
                onChange={(e) => setName(e.target.value)}
                pattern="[a-z][a-z0-9\-]{0,38}[a-z0-9]"
              />
            )}
          </Field>
          <Field label="Application">
            {(id) => (
              <select id={id} value={kind} onChange={(e) => setKind(e.target.value as typeof kind)}>
                {KINDS.map((k) => (
                  <option key={k}>{k}</option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Plan" help="pro: several replicas and an external database">
            {(id) => (
              <select id={id} value={plan} onChange={(e) => setPlan(e.target.value as typeof plan)}>
                {PLANS.map((p) => (
                  <option key={p}>{p}</option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Domains" help="optional; space or comma separated">
            {(id) => (
              <input id={id} value={domains} onChange={(e) => setDomains(e.target.value)} placeholder="shop.example.com" />
            )}
          </Field>
          {plan === 'pro' && (
            <>
              <Field label="Database host">
                {(id) => <input id={id} required value={db.host} onChange={(e) => setDb({ ...db, host: e.target.value })} />}
              </Field>
              <Field label="Database port">
                {(id) => (
                  <input
                    id={id}
                    required
                    type="number"
                    min={1}
                    max={65535}
                    value={db.port}
                    onChange={(e) => setDb({ ...db, port: e.target.value })}
                  />
                )}
              </Field>
              <Field label="Database name">
                {(id) => <input id={id} required value={db.name} onChange={(e) => setDb({ ...db, name: e.target.value })} />}
              </Field>
              <Field label="Database user">
                {(id) => <input id={id} required value={db.user} onChange={(e) => setDb({ ...db, user: e.target.value })} />}
              </Field>
            </>
          )}
          <div className="form-actions">
            <ActionButton type="submit" role={role} need="admin" busy={create.busy}>
              Add site
            </ActionButton>
          </div>
        </form>
      </Guard>
      <ErrorNotice error={create.error} title="The site was not created" />
      {created && (
        <div className="created">
          <p>
            Site <Link to={`/sites/${created.site.id}`}>{created.site.name}</Link> created; provisioning runs as a job:
          </p>
          <LiveJob job={created.job} title={`Provisioning ${created.site.name}`} onFinished={onCreated} />
          {created.wordpress && (
            <OnceSecret
              label={`WordPress admin password for ${created.wordpress.adminUser}`}
              value={created.wordpress.adminPassword}
              note="Shown once: the platform keeps no readable copy. Store it in your password manager."
            />
          )}
        </div>
      )}
    </Section>
  );
}

export function SitesPage() {
  const { orgId, orgs } = useSession();
  const [filter, setFilter] = useState('');
  const sites = useApi(orgId ? `sites:${orgId}` : null, (c) =>
    c.all<Site>((cursor) => c.sites.list({ orgId, limit: 500, cursor }), 10_000),
  );
  const shown = useMemo(
    () => (sites.data ?? []).filter((s) => s.name.includes(filter.trim().toLowerCase())),
    [sites.data, filter],
  );
  const counts = useMemo(() => {
    const c: Record<string, number> = {};
    for (const s of sites.data ?? []) c[s.status] = (c[s.status] ?? 0) + 1;
    return c;
  }, [sites.data]);
  if (!orgId) return <Empty>You are not a member of any organization yet. Ask an administrator to add you.</Empty>;
  const org = orgs.find((o) => o.id === orgId);

  return (
    <>
      <Section
        title={`Sites${org ? ` of ${org.name}` : ''}`}
        actions={
          <div className="field field-inline">
            <label htmlFor="site-filter">Filter</label>
            <input id="site-filter" type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="name" />
          </div>
        }
      >
        {sites.data && (
          <p className="summary" aria-live="polite">
            {sites.data.length} site{sites.data.length === 1 ? '' : 's'}
            {Object.entries(counts).map(([k, v]) => (
              <span key={k}>
                {' '}
                · {v} {k}
              </span>
            ))}
          </p>
        )}
        {sites.loading && !sites.data && <Loading label="Loading sites…" />}
        <ErrorNotice error={sites.error} title="Could not load the sites" />
        {sites.data && shown.length === 0 && (
          <Empty>{filter ? 'No site matches.' : 'No sites yet: add the first one below.'}</Empty>
        )}
        {shown.length > 0 && (
          <div className="table-wrap">
            <table className="table">
              <caption className="sr-only">Sites</caption>
              <thead>
                <tr>
                  <th scope="col">Site</th>
                  <th scope="col">Status</th>
                  <th scope="col">Application</th>
                  <th scope="col">Plan</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((s) => (
                  <tr key={s.id}>
                    <th scope="row">
                      <Link to={`/sites/${s.id}`}>{s.name}</Link>
                    </th>
                    <td>
                      <StatusBadge status={s.status} />
                    </td>
                    <td>{s.kind}</td>
                    <td>{s.plan}</td>
                    <td>
                      <Time iso={s.createdAt} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
      <AddSite orgId={orgId} onCreated={sites.reload} />
      <DeletedSitesBackups orgId={orgId} sites={sites.data} onRestored={sites.reload} />
    </>
  );
}
