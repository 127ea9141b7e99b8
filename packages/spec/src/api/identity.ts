import { type Static, Type } from '@sinclair/typebox';
import { Id, Role, Slug, Timestamp } from '../primitives.ts';

/**
 * Wire shapes (DTOs) of the identity part of the API: users, organizations, memberships,
 * API tokens and dashboard sessions. Responses never carry password or token hashes;
 * a new API token's secret appears once, in the `CreatedApiToken` answer to its creation.
 */

/** Passwords: at least 12 characters (length beats composition rules), at most 200 (bounds scrypt's input). */
export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 200;

export const Email = Type.String({ format: 'email', minLength: 3, maxLength: 254, description: 'stored lower-cased' });
export const Password = Type.String({ minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH });
export const PersonName = Type.String({ minLength: 1, maxLength: 100 });
export const OrgName = Type.String({ minLength: 1, maxLength: 100 });
export const TokenName = Type.String({ minLength: 1, maxLength: 100 });

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const User = Type.Object(
  {
    id: Id,
    email: Type.String(),
    name: Type.String(),
    isSuperuser: Type.Boolean({ description: 'platform administrator: acts as owner everywhere' }),
    disabled: Type.Boolean(),
    hasPassword: Type.Boolean({ description: 'false: the user can only use API tokens' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { additionalProperties: false },
);
export type User = Static<typeof User>;

export const Organization = Type.Object(
  { id: Id, slug: Type.String(), name: Type.String(), createdAt: Timestamp, updatedAt: Timestamp },
  { additionalProperties: false },
);
export type Organization = Static<typeof Organization>;

/** A role granted to a user in an organization, org-wide (`siteId: null`) or for one site. */
export const Membership = Type.Object(
  {
    id: Id,
    orgId: Id,
    userId: Id,
    siteId: Nullable(Id),
    role: Role,
    email: Type.String({ description: "the member's email" }),
    name: Type.String({ description: "the member's name" }),
    createdAt: Timestamp,
  },
  { additionalProperties: false },
);
export type Membership = Static<typeof Membership>;

/** An API token as listed: never the secret, only its first characters for recognition. */
export const ApiToken = Type.Object(
  {
    id: Id,
    userId: Id,
    name: Type.String(),
    tokenPrefix: Type.String({ description: 'first 8 characters of the secret, e.g. `tpl_AbCd`' }),
    createdAt: Timestamp,
    expiresAt: Nullable(Timestamp),
    revokedAt: Nullable(Timestamp),
    lastUsedAt: Nullable(Timestamp),
  },
  { additionalProperties: false },
);
export type ApiToken = Static<typeof ApiToken>;

/** The answer to creating a token: the only time the secret is shown. */
export const CreatedApiToken = Type.Composite([ApiToken, Type.Object({ token: Type.String() })], {
  additionalProperties: false,
});
export type CreatedApiToken = Static<typeof CreatedApiToken>;

const listOf = <T extends Parameters<typeof Type.Array>[0]>(item: T) =>
  Type.Object({ items: Type.Array(item), nextCursor: Nullable(Type.String()) }, { additionalProperties: false });

export const UserList = listOf(User);
export const OrganizationList = listOf(Organization);
export const MembershipList = listOf(Membership);
export const ApiTokenList = listOf(ApiToken);

// ── requests ────────────────────────────────────────────────────────────────────────────

export const LoginRequest = Type.Object(
  { email: Email, password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }) },
  { additionalProperties: false },
);
export type LoginRequest = Static<typeof LoginRequest>;

export const LoginResponse = Type.Object(
  {
    user: User,
    csrfToken: Type.String({ description: 'send it as `x-csrf-token` on every mutating session call' }),
    expiresAt: Timestamp,
  },
  { additionalProperties: false },
);
export type LoginResponse = Static<typeof LoginResponse>;

export const MeResponse = Type.Object(
  {
    user: User,
    memberships: Type.Array(
      Type.Composite([Membership, Type.Object({ orgSlug: Type.String(), orgName: Type.String() })], {
        additionalProperties: false,
      }),
    ),
    via: Type.Union([Type.Literal('token'), Type.Literal('session')]),
  },
  { additionalProperties: false },
);
export type MeResponse = Static<typeof MeResponse>;

export const CreateUserRequest = Type.Object(
  { email: Email, name: PersonName, password: Type.Optional(Password) },
  { additionalProperties: false },
);
export type CreateUserRequest = Static<typeof CreateUserRequest>;

export const UpdateUserRequest = Type.Object(
  {
    name: Type.Optional(PersonName),
    password: Type.Optional(Password),
    currentPassword: Type.Optional(Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH })),
    disabled: Type.Optional(Type.Boolean({ description: 'platform administrators only' })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateUserRequest = Static<typeof UpdateUserRequest>;

export const CreateOrganizationRequest = Type.Object({ slug: Slug, name: OrgName }, { additionalProperties: false });
export type CreateOrganizationRequest = Static<typeof CreateOrganizationRequest>;

export const UpdateOrganizationRequest = Type.Object(
  { slug: Type.Optional(Slug), name: Type.Optional(OrgName) },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateOrganizationRequest = Static<typeof UpdateOrganizationRequest>;

/** Add an existing user by id or by email (exactly one of the two). */
export const AddMemberRequest = Type.Object(
  {
    userId: Type.Optional(Id),
    email: Type.Optional(Email),
    role: Role,
    siteId: Type.Optional(Nullable(Id)),
  },
  { additionalProperties: false },
);
export type AddMemberRequest = Static<typeof AddMemberRequest>;

export const UpdateMemberRequest = Type.Object({ role: Role }, { additionalProperties: false });
export type UpdateMemberRequest = Static<typeof UpdateMemberRequest>;

export const CreateApiTokenRequest = Type.Object(
  { name: TokenName, expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })) },
  { additionalProperties: false },
);
export type CreateApiTokenRequest = Static<typeof CreateApiTokenRequest>;
