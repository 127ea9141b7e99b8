import { type ReactNode, useEffect, useRef } from 'react';
import { AuditPage } from './pages/audit.tsx';
import { JobPage, JobsPage } from './pages/jobs.tsx';
import { MembersPage } from './pages/members.tsx';
import { ServerPage, ServersPage } from './pages/servers.tsx';
import { SignIn } from './pages/sign-in.tsx';
import { SitePage } from './pages/site.tsx';
import { SitesPage } from './pages/sites.tsx';
import { TokensPage } from './pages/tokens.tsx';
import { Link, match, navigate, Redirect, useLocation } from './router.tsx';
import { SessionProvider, useRole, useSession, useSessionState } from './session.tsx';
import { ErrorNotice, Loading } from './ui.tsx';

interface NavItem {
  to: string;
  label: string;
  superuserOnly?: boolean;
}

const NAV: NavItem[] = [
  { to: '/sites', label: 'Sites' },
  { to: '/jobs', label: 'Jobs' },
  { to: '/audit', label: 'Audit log' },
  { to: '/servers', label: 'Servers', superuserOnly: true },
  { to: '/members', label: 'Members' },
  { to: '/tokens', label: 'API tokens' },
];

/** The pages, first match wins; `:id` segments are passed to the page. */
const ROUTES: [pattern: string, title: string, page: (p: Record<string, string>) => ReactNode][] = [
  ['/', 'Sites', () => <Redirect to="/sites" />],
  ['/sign-in', 'Sites', () => <Redirect to="/sites" />],
  ['/sites', 'Sites', () => <SitesPage />],
  ['/sites/:id', 'Site', (p) => <SitePage key={p.id} id={p.id as string} />],
  ['/jobs', 'Jobs', () => <JobsPage />],
  ['/jobs/:id', 'Job', (p) => <JobPage key={p.id} id={p.id as string} />],
  ['/audit', 'Audit log', () => <AuditPage />],
  ['/servers', 'Servers', () => <ServersPage />],
  ['/servers/:id', 'Server', (p) => <ServerPage key={p.id} id={p.id as string} />],
  ['/members', 'Members', () => <MembersPage />],
  ['/tokens', 'API tokens', () => <TokensPage />],
];

function route(path: string): { title: string; page: ReactNode } {
  for (const [pattern, title, page] of ROUTES) {
    const p = match(pattern, path);
    if (p) return { title, page: page(p) };
  }
  return {
    title: 'Not found',
    page: (
      <div className="card">
        <h1>Page not found</h1>
        <p>
          Nothing lives at <code>{path}</code>. <Link to="/sites">Go to the sites</Link>.
        </p>
      </div>
    ),
  };
}

function OrgSwitcher() {
  const { orgs, orgId, setOrgId } = useSession();
  if (orgs.length === 0) return null;
  return (
    <div className="org-switcher">
      <label htmlFor="org-switcher">Organization</label>
      <select id="org-switcher" value={orgId ?? ''} onChange={(e) => setOrgId(e.target.value)}>
        {orgs.map((o) => (
          <option key={o.id} value={o.id}>
            {o.name} ({o.slug})
          </option>
        ))}
      </select>
    </div>
  );
}

function Shell() {
  const session = useSession();
  const { path } = useLocation();
  const role = useRole();
  const { title, page } = route(path);
  const main = useRef<HTMLElement>(null);
  // On navigation: a meaningful title, and focus to the page so screen readers announce it.
  useEffect(() => {
    document.title = `${title} · Triplane`;
    const h = main.current?.querySelector<HTMLElement>('h1, h2');
    if (h) {
      if (!h.hasAttribute('tabindex')) h.setAttribute('tabindex', '-1');
      h.focus({ preventScroll: true });
    }
  }, [title]);
  const nav = NAV.filter((n) => !n.superuserOnly || session.me.user.isSuperuser);
  return (
    <div className="shell">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/sites" className="brand">
          <span className="brand-mark" aria-hidden="true" /> Triplane
        </Link>
        <OrgSwitcher />
        <div className="whoami">
          <span className="whoami-email">{session.me.user.email}</span>
          <span className="badge badge-muted" title="your role in this organization">
            {session.me.user.isSuperuser ? 'platform admin' : (role ?? 'no role')}
          </span>
          <button type="button" className="btn btn-plain" onClick={() => void session.signOut().then(() => navigate('/sign-in'))}>
            Sign out
          </button>
        </div>
      </header>
      <nav className="nav" aria-label="Main">
        <ul>
          {nav.map((n) => {
            const current = path === n.to || path.startsWith(`${n.to}/`);
            return (
              <li key={n.to}>
                <Link to={n.to} aria-current={current ? 'page' : undefined}>
                  {n.label}
                </Link>
              </li>
            );
          })}
        </ul>
      </nav>
      <main id="main" ref={main} className="main">
        {page}
      </main>
    </div>
  );
}

export function App() {
  const { state, signIn } = useSessionState();
  const { path } = useLocation();
  if (state.kind === 'loading') {
    return (
      <main className="center" id="main">
        <Loading label="Starting the dashboard…" />
      </main>
    );
  }
  if (state.kind === 'error') {
    return (
      <main className="center" id="main">
        <div className="card">
          <h1>The dashboard cannot reach the API</h1>
          <ErrorNotice error={state.error} />
          <button type="button" className="btn btn-primary" onClick={state.retry}>
            Try again
          </button>
        </div>
      </main>
    );
  }
  if (state.kind === 'signed-out') {
    return (
      <SignIn
        reason={state.reason}
        onSignIn={async (email, password) => {
          await signIn(email, password);
          if (path === '/sign-in' || path === '/') navigate('/sites', { replace: true });
        }}
      />
    );
  }
  return (
    <SessionProvider session={state.session}>
      <Shell key={state.session.orgId} />
    </SessionProvider>
  );
}
