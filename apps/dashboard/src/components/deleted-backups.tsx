import type { Backup, CloneResponse, Site } from '@triplane/client';
import { useEffect, useRef, useState } from 'react';
import { toShownError } from '../api.ts';
import { useAction, useApi } from '../hooks.ts';
import { Link } from '../router.tsx';
import { useRole } from '../session.tsx';
import { ActionButton, ErrorNotice, Field, Section, Time } from '../ui.tsx';
import { LiveJob } from './job-watch.tsx';

/** One deleted site's production backup, with its "Restore as new site" form (name, optional domain). */
function RestoreRow({ backup, onRestored }: { backup: Backup; onRestored: () => void }) {
  const role = useRole();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState(`${backup.siteName}-restored`.slice(0, 40));
  const [domain, setDomain] = useState('');
  const restore = useAction((c, body: { name: string; domains?: string[] }) => c.backups.restoreAsSite(backup.id, body));
  const [made, setMade] = useState<CloneResponse>();
  return (
    <tr>
      <th scope="row">{backup.siteName}</th>
      <td>{backup.kind}</td>
      <td>
        <Time iso={backup.snapshotTime} />
      </td>
      <td>
        {made ? (
          <>
            <Link to={`/sites/${made.site.id}`}>{made.site.name}</Link>
            <LiveJob job={made.syncJob} title={`Restoring ${made.site.name}`} onFinished={onRestored} />
          </>
        ) : open ? (
          <form
            className="grid-form"
            aria-label={`Restore ${backup.siteName} as a new site`}
            onSubmit={async (e) => {
              e.preventDefault();
              const d = domain.trim().toLowerCase();
              const r = await restore.run({ name: name.trim(), ...(d ? { domains: [d] } : {}) });
              if (r) setMade(r);
            }}
          >
            <Field label="New site name">
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
            <Field label="Domain" help="optional; the old URL is rewritten to it">
              {(id) => (
                <input id={id} value={domain} onChange={(e) => setDomain(e.target.value)} placeholder="shop.example.com" />
              )}
            </Field>
            <div className="form-actions">
              <ActionButton type="submit" role={role} need="admin" busy={restore.busy}>
                Restore
              </ActionButton>
            </div>
            <ErrorNotice error={restore.error} title="The site was not restored" />
          </form>
        ) : (
          <ActionButton role={role} need="admin" onClick={() => setOpen(true)}>
            Restore as new site
          </ActionButton>
        )}
      </td>
    </tr>
  );
}

/**
 * What deleted sites left: their production backups (`GET /orgs/{id}/backups?deletedSites=true`),
 * each restorable as a new site (`POST /backups/{id}/restore-as-site`). Hidden when there are none.
 * `sites` is the page's (polled) list of sites: a site that leaves it was just deleted, and its
 * backups become "a deleted site's" at that moment, so the list is fetched again then.
 */
export function DeletedSitesBackups({
  orgId,
  sites,
  onRestored,
}: {
  orgId: string;
  sites: Site[] | undefined;
  onRestored: () => void;
}) {
  const list = useApi(`deleted-backups:${orgId}`, (c) => c.backups.listOrg(orgId, { deletedSites: true, limit: 50 }));
  const sitesKey = sites?.map((s) => s.id).join(' ');
  const seen = useRef(sitesKey);
  const { reload } = list;
  useEffect(() => {
    const before = seen.current;
    seen.current = sitesKey;
    // not on the page's first load of the sites (this list was fetched with it)
    if (before !== undefined && sitesKey !== undefined && before !== sitesKey) reload();
  }, [sitesKey, reload]);
  const items = (list.data?.items ?? []).filter((b) => b.environmentName === 'production');
  // Members with a site-scoped role only can't list the organization's backups: nothing to show them.
  const status = list.error ? toShownError(list.error).status : 0;
  if (status === 403 || status === 404 || (!list.error && items.length === 0)) return null;
  return (
    <Section title="Deleted sites' backups">
      <ErrorNotice error={list.error} title="Could not load the deleted sites' backups" />
      {items.length > 0 && (
        <div className="table-wrap">
          <table className="table">
            <caption className="sr-only">Backups of deleted sites</caption>
            <thead>
              <tr>
                <th scope="col">Site</th>
                <th scope="col">Kind</th>
                <th scope="col">Taken</th>
                <th scope="col">Restore</th>
              </tr>
            </thead>
            <tbody>
              {items.map((b) => (
                <RestoreRow key={b.id} backup={b} onRestored={onRestored} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}
