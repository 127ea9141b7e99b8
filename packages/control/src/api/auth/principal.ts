import type { Role } from '@triplane/spec';

/** Who is calling. Set on every request by the authenticate hook. */
export type Principal =
  | { kind: 'anonymous' }
  | {
      kind: 'user';
      userId: string;
      email: string;
      isSuperuser: boolean;
      via: 'token' | 'session';
      tokenId?: string;
      sessionId?: string;
    }
  | { kind: 'server'; serverId: string; role: 'app' | 'edge' };

export type UserPrincipal = Extract<Principal, { kind: 'user' }>;
export type ServerPrincipal = Extract<Principal, { kind: 'server' }>;

export interface MembershipGrant {
  orgId: string;
  /** null: the whole organization */
  siteId: string | null;
  role: Role;
}
