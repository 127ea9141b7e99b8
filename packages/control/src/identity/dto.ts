import type { ApiToken, Membership, Organization, User } from '@triplane/spec';
import type { Selectable } from 'kysely';
import type { ApiTokensTable, MembershipsTable, OrganizationsTable, UsersTable } from '../store/schema.ts';

/**
 * Row → wire shape. The only way identity rows leave the API: each mapper names the fields
 * it copies, so a hash column can never ride along by accident.
 */
export function toUser(r: Selectable<UsersTable>): User {
  return {
    id: r.id,
    email: r.email,
    name: r.name,
    isSuperuser: Number(r.is_superuser) === 1,
    disabled: Number(r.disabled) === 1,
    hasPassword: r.password_hash !== null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function toOrganization(r: Selectable<OrganizationsTable>): Organization {
  return { id: r.id, slug: r.slug, name: r.name, createdAt: r.created_at, updatedAt: r.updated_at };
}

export type MembershipRow = Selectable<MembershipsTable> & { email: string; name: string };

export function toMembership(r: MembershipRow): Membership {
  return {
    id: r.id,
    orgId: r.org_id,
    userId: r.user_id,
    siteId: r.site_id,
    role: r.role as Membership['role'],
    email: r.email,
    name: r.name,
    createdAt: r.created_at,
  };
}

export function toApiToken(r: Selectable<ApiTokensTable>): ApiToken {
  return {
    id: r.id,
    userId: r.user_id,
    name: r.name,
    tokenPrefix: r.token_prefix,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    lastUsedAt: r.last_used_at,
  };
}
