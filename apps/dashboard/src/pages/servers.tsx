import type { CreateServerResponse } from '@triplane/client';
import { useState } from 'react';
import { useAction, useApi } from '../hooks.ts';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';
import { ActionButton, Empty, ErrorNotice, Field, Guard, Loading, OnceSecret, Section, StatusBadge, Time } from '../ui.tsx';

function bytes(n: number | undefined): string {
  if (n === undefined) return '—';
  return n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)} GiB` : `${Math.round(n / (1 << 20))} MiB`;
}

function AddServer({ onCreated }: { onCreated: () => void }) {
  const { me } = useSession();
  const role = me.user.isSuperuser ? 'owner' : undefined;
  const [name, setName] = useState('');
  const [kind, setKind] = useState<'app' | 'edge'>('app');
  const create = useAction((c, n: string, r: 'app' | 'edge') => c.servers.create({ name: n, role: r }));
  const [created, setCreated] = useState<CreateServerResponse>();
  return (
    <Section title="Add a server">
      <Guard role={role} need="owner">
        <form
          className="inline-form"
          onSubmit={async (e) => {
            e.preventDefault();
            const r = await create.run(name.trim(), kind);
            if (r) {
              setCreated(r);
              setName('');
              onCreated();
            }
          }}
        >
          <Field label="Server name">
            {(id) => <input id={id} required value={name} onChange={(e) => setName(e.target.value)} />}
          </Field>
          <Field label="Role">
            {(id) => (
              <select id={id} value={kind} onChange={(e) => setKind(e.target.value as 'app' | 'edge')}>
                <option value="app">app server (runs sites)</option>
                <option value="edge">edge (serves traffic)</option>
              </select>
            )}
          </Field>
          <ActionButton type="submit" role={role} need="owner" busy={create.busy}>
            Add server
          </ActionButton>
        </form>
      </Guard>
      <ErrorNotice error={create.error} title="Server not added" />
      {created && (
        <OnceSecret
          label={`Join token for ${created.server.name}`}
          value={created.joinToken}
          note={`Shown once, valid until ${new Date(created.joinTokenExpiresAt).toLocaleString()}: run the agent on the server with it.`}
        />
      )}
    </Section>
  );
}

/** Servers (platform administrators): agents, health, load, and what runs where. */
export function ServersPage() {
  // GET /servers is not paged (no limit/cursor): one call lists them all.
  const servers = useApi('servers', async (c) => (await c.servers.list()).items, 10_000);
  return (
    <>
      <Section title="Servers">
        {servers.loading && !servers.data && <Loading label="Loading servers…" />}
        <ErrorNotice error={servers.error} title="Could not load the servers" />
        {servers.data?.length === 0 && <Empty>No servers yet. Add one, then start its agent with the join token.</Empty>}
        {servers.data && servers.data.length > 0 && (
          <div className="table-wrap">
            <table className="table">
              <caption className="sr-only">Servers</caption>
              <thead>
                <tr>
                  <th scope="col">Server</th>
                  <th scope="col">Role</th>
                  <th scope="col">Health</th>
                  <th scope="col">Load</th>
                  <th scope="col">CPUs / memory / disk free</th>
                  <th scope="col">Environments</th>
                  <th scope="col">Heartbeat</th>
                </tr>
              </thead>
              <tbody>
                {servers.data.map((s) => (
                  <tr key={s.id}>
                    <th scope="row">
                      <Link to={`/servers/${s.id}`}>{s.name}</Link>
                      <div className="muted small">
                        {s.address ?? 'no address'} {s.agentVersion && `· agent ${s.agentVersion}`}
                      </div>
                    </th>
                    <td>{s.role}</td>
                    <td>
                      <StatusBadge status={s.status} />
                    </td>
                    <td>{s.facts?.load1?.toFixed(2) ?? '—'}</td>
                    <td>
                      {s.facts?.cpus ?? '—'} / {bytes(s.facts?.memoryBytes)} / {bytes(s.facts?.diskFreeBytes)}
                    </td>
                    <td>{s.environmentCount}</td>
                    <td>
                      <Time iso={s.lastHeartbeatAt} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
      <AddServer onCreated={servers.reload} />
    </>
  );
}

export function ServerPage({ id }: { id: string }) {
  const { me } = useSession();
  const role = me.user.isSuperuser ? 'owner' : undefined;
  const s = useApi(`server:${id}`, (c) => c.servers.get(id), 10_000);
  const del = useAction((c) => c.servers.delete(id));
  if (s.loading && !s.data) return <Loading label="Loading the server…" />;
  if (!s.data) return <ErrorNotice error={s.error} title="Could not load the server" />;
  const srv = s.data;
  const f = srv.facts ?? {};
  return (
    <>
      <div className="page-head">
        <p className="crumbs">
          <Link to="/servers">Servers</Link> /
        </p>
        <h1 tabIndex={-1} className="page-title">
          {srv.name} <StatusBadge status={srv.status} />
        </h1>
      </div>
      <Section title="Machine">
        <dl className="facts">
          {(
            [
              ['Role', srv.role],
              ['Address', srv.address ?? '—'],
              ['Host name', f.hostname ?? '—'],
              ['OS', f.os ?? '—'],
              ['Kernel', f.kernel ?? '—'],
              ['CPUs', String(f.cpus ?? '—')],
              ['Memory', bytes(f.memoryBytes)],
              ['Disk free', bytes(f.diskFreeBytes)],
              ['Load (1 min)', f.load1?.toFixed(2) ?? '—'],
              ['Podman', f.podmanVersion ?? '—'],
              ['Agent', srv.agentVersion ?? '—'],
            ] as const
          ).map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </div>
          ))}
          <div>
            <dt>Last heartbeat</dt>
            <dd>
              <Time iso={srv.lastHeartbeatAt} />
            </dd>
          </div>
        </dl>
      </Section>
      <Section title="What runs here">
        {srv.environments.length === 0 ? (
          <Empty>No environment is placed on this server.</Empty>
        ) : (
          <div className="table-wrap">
            <table className="table">
              <caption className="sr-only">Environments on {srv.name}</caption>
              <thead>
                <tr>
                  <th scope="col">Site</th>
                  <th scope="col">Environment</th>
                  <th scope="col">Status</th>
                  <th scope="col">Web port</th>
                </tr>
              </thead>
              <tbody>
                {srv.environments.map((e) => (
                  <tr key={e.id}>
                    <th scope="row">
                      <Link to={`/sites/${e.siteId}`}>{e.siteName}</Link>
                    </th>
                    <td>{e.name}</td>
                    <td>
                      <StatusBadge status={e.status} />
                    </td>
                    <td>{e.webPort ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
      <Section title="Remove this server">
        <p>The API refuses while environments are placed on it.</p>
        <ActionButton
          tone="danger"
          role={role}
          need="owner"
          busy={del.busy}
          onClick={() => void del.run().then(() => s.reload())}
        >
          Remove {srv.name}
        </ActionButton>
        <ErrorNotice error={del.error} title="Not removed" />
      </Section>
    </>
  );
}
