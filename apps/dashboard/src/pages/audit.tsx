import type { AuditEntry, AuditQuery } from '@triplane/client';
import { useEffect, useState } from 'react';
import { useAction } from '../hooks.ts';
import { useRole, useSession } from '../session.tsx';
import { Empty, ErrorNotice, Field, Loading, roleHint, Section, Time } from '../ui.tsx';

const FILTERS = [
  ['action', 'Action', 'site.create'],
  ['actorId', 'Actor id', 'usr_…'],
  ['targetType', 'Target type', 'environment'],
  ['targetId', 'Target id', 'env_…'],
] as const;

function toIso(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** The audit log of the selected organization (admins), newest first, with filters and paging. */
export function AuditPage() {
  const { orgId } = useSession();
  const role = useRole();
  const [f, setF] = useState<Record<string, string>>({});
  const [entries, setEntries] = useState<AuditEntry[]>();
  const [cursor, setCursor] = useState<string | null>(null);
  const load = useAction(async (c, q: AuditQuery, append: boolean) => {
    const page = await c.audit.list(q);
    setEntries((prev) => (append && prev ? [...prev, ...page.items] : page.items));
    setCursor(page.nextCursor);
    return page;
  });
  const query = (): AuditQuery => {
    const q: AuditQuery = { orgId, limit: 50 };
    for (const [k] of FILTERS) if (f[k]?.trim()) q[k] = f[k].trim();
    const since = toIso(f.since ?? '');
    const until = toIso(f.until ?? '');
    if (since) q.since = since;
    if (until) q.until = until;
    return q;
  };
  const { run } = load;
  useEffect(() => {
    if (orgId) void run({ orgId, limit: 50 }, false);
  }, [orgId, run]);
  const hint = roleHint(role, 'admin');

  return (
    <Section title="Audit log">
      {hint && <p className="hint">Reading the audit log needs the admin role; the API will say so.</p>}
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void load.run(query(), false);
        }}
      >
        {FILTERS.map(([k, label, ph]) => (
          <Field key={k} label={label}>
            {(id) => <input id={id} value={f[k] ?? ''} placeholder={ph} onChange={(e) => setF({ ...f, [k]: e.target.value })} />}
          </Field>
        ))}
        <Field label="Since">
          {(id) => (
            <input id={id} type="datetime-local" value={f.since ?? ''} onChange={(e) => setF({ ...f, since: e.target.value })} />
          )}
        </Field>
        <Field label="Until">
          {(id) => (
            <input id={id} type="datetime-local" value={f.until ?? ''} onChange={(e) => setF({ ...f, until: e.target.value })} />
          )}
        </Field>
        <div className="form-actions">
          <button type="submit" className="btn btn-primary">
            Search
          </button>
          <button
            type="button"
            className="btn btn-plain"
            onClick={() => {
              setF({});
              void load.run({ orgId, limit: 50 }, false);
            }}
          >
            Clear
          </button>
        </div>
      </form>
      {load.busy && !entries && <Loading label="Loading the audit log…" />}
      <ErrorNotice error={load.error} title="Could not read the audit log" />
      {entries?.length === 0 && <Empty>No entries match.</Empty>}
      {entries && entries.length > 0 && (
        <div className="table-wrap">
          <table className="table">
            <caption className="sr-only">Audit entries, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Action</th>
                <th scope="col">Actor</th>
                <th scope="col">Target</th>
                <th scope="col">From</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.id}>
                  <td>
                    <Time iso={e.at} />
                  </td>
                  <th scope="row" className="mono">
                    {e.action}
                  </th>
                  <td className="mono small">
                    {e.actorType} {e.actorId} <span className="muted">({e.actorVia})</span>
                  </td>
                  <td className="mono small">
                    {e.targetType} {e.targetId}
                  </td>
                  <td className="mono small">{e.ip}</td>
                  <td className="mono small clip" title={JSON.stringify(e.details)}>
                    {e.details ? JSON.stringify(e.details) : ''}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {cursor && (
        <button
          type="button"
          className="btn btn-plain"
          disabled={load.busy}
          onClick={() => void load.run({ ...query(), cursor }, true)}
        >
          Load older entries
        </button>
      )}
    </Section>
  );
}
