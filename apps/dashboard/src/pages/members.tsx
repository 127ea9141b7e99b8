import type { Membership, Role, Site } from '@triplane/client';
import { useState } from 'react';
import { useAction, useApi } from '../hooks.ts';
import { atLeast, useRole, useSession } from '../session.tsx';
import { ActionButton, Empty, ErrorNotice, Field, Guard, Loading, Section, Time } from '../ui.tsx';

const ROLES: Role[] = ['viewer', 'developer', 'admin', 'owner'];
const ROLE_HELP =
  'viewer reads · developer changes environments, domains, cache · admin also sites and members · owner everything';

function MemberRow({
  m,
  role,
  sites,
  onChanged,
}: {
  m: Membership;
  role: Role | undefined;
  sites: Map<string, string>;
  onChanged: () => void;
}) {
  const { orgId } = useSession();
  const update = useAction((c, r: Role) => c.members.update(orgId as string, m.id, { role: r }));
  const remove = useAction((c) => c.members.remove(orgId as string, m.id));
  // Granting or changing the owner role needs an owner, as the API checks.
  const need: Role = m.role === 'owner' ? 'owner' : 'admin';
  return (
    <tr>
      <th scope="row">
        {m.name} <div className="muted small">{m.email}</div>
      </th>
      <td>{m.siteId ? `site ${sites.get(m.siteId) ?? m.siteId}` : 'whole organization'}</td>
      <td>
        <label className="sr-only" htmlFor={`role-${m.id}`}>
          Role of {m.email}
        </label>
        <select
          id={`role-${m.id}`}
          value={m.role}
          disabled={!atLeast(role, need) || update.busy}
          data-mutating="true"
          onChange={async (e) => {
            if (await update.run(e.target.value as Role)) onChanged();
          }}
        >
          {ROLES.map((r) => (
            <option key={r} disabled={r === 'owner' && !atLeast(role, 'owner')}>
              {r}
            </option>
          ))}
        </select>
        <ErrorNotice error={update.error} />
      </td>
      <td>
        <Time iso={m.createdAt} />
      </td>
      <td>
        <ActionButton
          tone="danger"
          role={role}
          need={need}
          busy={remove.busy}
          aria-label={`Remove ${m.email}`}
          onClick={async () => {
            await remove.run();
            onChanged();
          }}
        >
          Remove
        </ActionButton>
        <ErrorNotice error={remove.error} />
      </td>
    </tr>
  );
}

function CreateUser() {
  const { me } = useSession();
  const role = me.user.isSuperuser ? 'owner' : undefined;
  const [u, setU] = useState({ email: '', name: '', password: '' });
  const create = useAction((c, body: typeof u) =>
    c.http.request<{ id: string; email: string }>('POST', '/users', { body: { ...body, password: body.password || undefined } }),
  );
  if (!me.user.isSuperuser) return null;
  return (
    <Section title="Create a user (platform administrators)">
      <Guard role={role} need="owner">
        <form
          className="grid-form"
          onSubmit={async (e) => {
            e.preventDefault();
            if (await create.run(u)) setU({ email: '', name: '', password: '' });
          }}
        >
          <Field label="Email">
            {(id) => (
              <input id={id} type="email" required value={u.email} onChange={(e) => setU({ ...u, email: e.target.value })} />
            )}
          </Field>
          <Field label="Name">
            {(id) => <input id={id} required value={u.name} onChange={(e) => setU({ ...u, name: e.target.value })} />}
          </Field>
          <Field label="Password" help="12 characters or more; leave empty for a token-only user">
            {(id) => (
              <input
                id={id}
                type="password"
                autoComplete="new-password"
                minLength={12}
                value={u.password}
                onChange={(e) => setU({ ...u, password: e.target.value })}
              />
            )}
          </Field>
          <div className="form-actions">
            <ActionButton type="submit" role={role} need="owner" busy={create.busy}>
              Create user
            </ActionButton>
          </div>
        </form>
      </Guard>
      <ErrorNotice error={create.error} title="User not created" />
      {create.result && !create.busy && (
        <p className="notice notice-ok" role="status">
          User {create.result.email} created. Add them to the organization below.
        </p>
      )}
    </Section>
  );
}

/** Members of the selected organization with their roles; admins add, change and remove them. */
export function MembersPage() {
  const { orgId } = useSession();
  const role = useRole();
  const members = useApi(orgId ? `members:${orgId}` : null, (c) =>
    c.all<Membership>((cursor) => c.members.list(orgId as string, { limit: 500, cursor })),
  );
  const sites = useApi(orgId ? `sites:${orgId}` : null, (c) =>
    c.all<Site>((cursor) => c.sites.list({ orgId, limit: 500, cursor }), 10_000),
  );
  const siteNames = new Map((sites.data ?? []).map((s) => [s.id, s.name]));
  const [add, setAdd] = useState<{ email: string; role: Role; siteId: string }>({ email: '', role: 'viewer', siteId: '' });
  const addMember = useAction((c, a: typeof add) =>
    c.members.add(orgId as string, { email: a.email.trim(), role: a.role, siteId: a.siteId || null }),
  );
  if (!orgId) return <Empty>You are not a member of any organization.</Empty>;
  return (
    <>
      <Section title="Members">
        <p className="help">{ROLE_HELP}</p>
        {members.loading && !members.data && <Loading label="Loading members…" />}
        <ErrorNotice error={members.error} title="Could not load the members" />
        {members.data && (
          <div className="table-wrap">
            <table className="table">
              <caption className="sr-only">Members</caption>
              <thead>
                <tr>
                  <th scope="col">Member</th>
                  <th scope="col">Scope</th>
                  <th scope="col">Role</th>
                  <th scope="col">Since</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {members.data.map((m) => (
                  <MemberRow key={m.id} m={m} role={role} sites={siteNames} onChanged={members.reload} />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
      <Section title="Add a member">
        <Guard role={role} need="admin">
          <form
            className="grid-form"
            onSubmit={async (e) => {
              e.preventDefault();
              if (await addMember.run(add)) {
                setAdd({ ...add, email: '' });
                members.reload();
              }
            }}
          >
            <Field label="Email of an existing user">
              {(id) => (
                <input
                  id={id}
                  type="email"
                  required
                  value={add.email}
                  onChange={(e) => setAdd({ ...add, email: e.target.value })}
                />
              )}
            </Field>
            <Field label="Role">
              {(id) => (
                <select id={id} value={add.role} onChange={(e) => setAdd({ ...add, role: e.target.value as Role })}>
                  {ROLES.map((r) => (
                    <option key={r} disabled={r === 'owner' && !atLeast(role, 'owner')}>
                      {r}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <Field label="Scope">
              {(id) => (
                <select id={id} value={add.siteId} onChange={(e) => setAdd({ ...add, siteId: e.target.value })}>
                  <option value="">whole organization</option>
                  {(sites.data ?? []).map((s) => (
                    <option key={s.id} value={s.id}>
                      site {s.name}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <div className="form-actions">
              <ActionButton type="submit" role={role} need="admin" busy={addMember.busy}>
                Add member
              </ActionButton>
            </div>
          </form>
        </Guard>
        <ErrorNotice error={addMember.error} title="Member not added" />
      </Section>
      <CreateUser />
    </>
  );
}
