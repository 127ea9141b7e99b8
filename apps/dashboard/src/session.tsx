import type { MeResponse, Organization, Role, TriplaneClient } from '@triplane/client';
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { csrfFromCookie, isUnauthenticated, makeClient } from './api.ts';

/** Least to most privileged, as the API ranks them (packages/spec ROLE_RANK). */
const RANK: Record<Role, number> = { viewer: 0, developer: 1, admin: 2, owner: 3 };

export function atLeast(role: Role | undefined, min: Role): boolean {
  return role !== undefined && RANK[role] >= RANK[min];
}

export interface Session {
  client: TriplaneClient;
  me: MeResponse;
  orgs: Organization[];
  orgId: string | undefined;
  setOrgId(id: string): void;
  /**
   * The caller's effective role, as the API computes it: superusers are owners everywhere; else
   * the higher of the org-wide grant and, for a site, the grant on that site.
   */
  roleIn(orgId: string | undefined, siteId?: string): Role | undefined;
  signOut(): Promise<void>;
  /** A call answered 401: the session is gone; back to the sign-in page. */
  expired(): void;
  reloadMe(): Promise<void>;
}

const Ctx = createContext<Session | undefined>(undefined);

export function SessionProvider(p: { session: Session; children: ReactNode }) {
  return <Ctx value={p.session}>{p.children}</Ctx>;
}

export function useSession(): Session {
  const s = useContext(Ctx);
  if (!s) throw new Error('useSession outside a signed-in page');
  return s;
}

/** The role in the selected organization (or on one of its sites). */
export function useRole(siteId?: string, orgId?: string): Role | undefined {
  const s = useSession();
  return s.roleIn(orgId ?? s.orgId, siteId);
}

const ORG_KEY = 'triplane.orgId';

export type SessionState =
  | { kind: 'loading' }
  | { kind: 'signed-out'; reason?: string }
  | { kind: 'error'; error: unknown; retry: () => void }
  | { kind: 'signed-in'; session: Session };

/**
 * Holds the sign-in state: on load, asks `GET /auth/me` with the cookies the browser has (and
 * the CSRF token from its cookie); `signIn` posts the credentials and keeps the CSRF token the
 * API answers with.
 */
export function useSessionState(): {
  state: SessionState;
  signIn(email: string, password: string): Promise<void>;
} {
  const [state, setState] = useState<SessionState>({ kind: 'loading' });
  const [orgId, setOrgIdState] = useState<string | undefined>(() => localStorage.getItem(ORG_KEY) ?? undefined);

  const setOrgId = useCallback((id: string) => {
    localStorage.setItem(ORG_KEY, id);
    setOrgIdState(id);
  }, []);

  const establish = useCallback(
    async (client: TriplaneClient) => {
      const me = await client.auth.me();
      const orgs = await client.all((cursor) => client.orgs.list({ limit: 500, cursor }), 2000);
      const build = (m: MeResponse): Session => ({
        client,
        me: m,
        orgs,
        orgId: undefined,
        setOrgId,
        roleIn(o, siteId) {
          if (m.user.isSuperuser) return 'owner';
          let best: Role | undefined;
          for (const g of m.memberships) {
            if (g.orgId !== o) continue;
            if (g.siteId === null || (siteId !== undefined && g.siteId === siteId)) {
              if (!best || RANK[g.role] > RANK[best]) best = g.role;
            }
          }
          return best;
        },
        async signOut() {
          try {
            await client.auth.logout();
          } finally {
            setState({ kind: 'signed-out', reason: 'You signed out.' });
          }
        },
        expired() {
          setState({ kind: 'signed-out', reason: 'Your session ended; sign in again.' });
        },
        async reloadMe() {
          const next = await client.auth.me();
          setState({ kind: 'signed-in', session: build(next) });
        },
      });
      setState({ kind: 'signed-in', session: build(me) });
    },
    [setOrgId],
  );

  const boot = useCallback(() => {
    setState({ kind: 'loading' });
    establish(makeClient(csrfFromCookie())).catch((e: unknown) => {
      if (isUnauthenticated(e)) setState({ kind: 'signed-out' });
      else setState({ kind: 'error', error: e, retry: boot });
    });
  }, [establish]);

  useEffect(() => boot(), [boot]);

  const signIn = useCallback(
    async (email: string, password: string) => {
      const anon = makeClient(undefined);
      const r = await anon.auth.login(email, password);
      await establish(makeClient(r.csrfToken));
    },
    [establish],
  );

  // The selected organization: the stored one if still visible, else the first membership's.
  const resolved = useMemo<SessionState>(() => {
    if (state.kind !== 'signed-in') return state;
    const s = state.session;
    const visible = new Set(s.orgs.map((o) => o.id));
    const pick =
      orgId && visible.has(orgId) ? orgId : (s.me.memberships.find((m) => visible.has(m.orgId))?.orgId ?? s.orgs[0]?.id);
    return { kind: 'signed-in', session: { ...s, orgId: pick } };
  }, [state, orgId]);
  return { state: resolved, signIn };
}
