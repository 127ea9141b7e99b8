import type { ApiToken, CreatedApiToken } from '@triplane/client';
import { useState } from 'react';
import { useAction, useApi } from '../hooks.ts';
import { Empty, ErrorNotice, Field, Loading, OnceSecret, Section, Time } from '../ui.tsx';

/**
 * Your API tokens (for scripts and the triplane command). Any signed-in user manages their own
 * tokens — a token carries its owner's roles, so a viewer's token can only read.
 */
export function TokensPage() {
  const tokens = useApi('tokens', (c) => c.all<ApiToken>((cursor) => c.tokens.list({ limit: 500, cursor })));
  const [name, setName] = useState('');
  const [days, setDays] = useState('90');
  const [created, setCreated] = useState<CreatedApiToken>();
  const create = useAction((c, n: string, d: number | undefined) =>
    c.tokens.create({ name: n, ...(d ? { expiresInDays: d } : {}) }),
  );
  const revoke = useAction((c, id: string) => c.tokens.revoke(id));
  return (
    <>
      <Section title="Create an API token">
        <form
          className="inline-form"
          onSubmit={async (e) => {
            e.preventDefault();
            const r = await create.run(name.trim(), days ? Number(days) : undefined);
            if (r) {
              setCreated(r);
              setName('');
              tokens.reload();
            }
          }}
        >
          <Field label="Token name">
            {(id) => (
              <input id={id} required value={name} onChange={(e) => setName(e.target.value)} placeholder="deploy script" />
            )}
          </Field>
          <Field label="Expires after (days)" help="empty: never">
            {(id) => <input id={id} type="number" min={1} max={3650} value={days} onChange={(e) => setDays(e.target.value)} />}
          </Field>
          <button type="submit" className="btn btn-primary" disabled={create.busy}>
            Create token
          </button>
        </form>
        <ErrorNotice error={create.error} title="Token not created" />
        {created && (
          <OnceSecret
            label={`Secret of ${created.name}`}
            value={created.token}
            note="Shown once: only a hash is stored. Use it as: Authorization: Bearer <token>, or TRIPLANE_TOKEN for the triplane command."
          />
        )}
      </Section>
      <Section title="Your API tokens">
        {tokens.loading && !tokens.data && <Loading label="Loading tokens…" />}
        <ErrorNotice error={tokens.error ?? revoke.error} />
        {tokens.data?.length === 0 && <Empty>No tokens.</Empty>}
        {tokens.data && tokens.data.length > 0 && (
          <div className="table-wrap">
            <table className="table">
              <caption className="sr-only">API tokens</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Starts with</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Expires</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {tokens.data.map((t) => (
                  <tr key={t.id}>
                    <th scope="row">{t.name}</th>
                    <td className="mono">{t.tokenPrefix}…</td>
                    <td>
                      <Time iso={t.createdAt} />
                    </td>
                    <td>
                      <Time iso={t.lastUsedAt} />
                    </td>
                    <td>
                      {t.revokedAt ? (
                        <span className="badge badge-muted">revoked</span>
                      ) : t.expiresAt ? (
                        new Date(t.expiresAt).toLocaleDateString()
                      ) : (
                        'never'
                      )}
                    </td>
                    <td>
                      {!t.revokedAt && (
                        <button
                          type="button"
                          className="btn btn-danger"
                          disabled={revoke.busy}
                          aria-label={`Revoke ${t.name}`}
                          onClick={async () => {
                            await revoke.run(t.id);
                            tokens.reload();
                          }}
                        >
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
    </>
  );
}
