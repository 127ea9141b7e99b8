import { type Static, Type } from '@sinclair/typebox';

/** Lower-case DNS-safe name used for sites, environments, organizations: `shop`, `my-store-2`. */
export const Slug = Type.String({
  pattern: '^[a-z][a-z0-9-]{0,38}[a-z0-9]$',
  minLength: 2,
  maxLength: 40,
  description: 'lower-case letters, digits and dashes; starts with a letter; 2–40 characters',
});

/** Resource identifier, `<prefix>_<base32>`. */
export const Id = Type.String({ pattern: '^[a-z]{2,8}_[0-9a-z]{16}$', maxLength: 32 });

/**
 * A fully-qualified hostname in ASCII (IDNs as punycode): labels of 1–63 letters, digits
 * or dashes (not at either end), at least two labels, 253 characters at most, no trailing dot.
 */
export const HOSTNAME_PATTERN = '^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$';
export const Hostname = Type.String({ pattern: HOSTNAME_PATTERN, maxLength: 253 });

export function isValidHostname(h: string): boolean {
  return new RegExp(HOSTNAME_PATTERN).test(h);
}

export const Timestamp = Type.String({ format: 'date-time', description: 'ISO 8601, UTC' });

export const SiteKind = Type.Union([
  Type.Literal('wordpress'),
  Type.Literal('woocommerce'),
  Type.Literal('magento'),
  Type.Literal('php'),
]);
export type SiteKind = Static<typeof SiteKind>;

export const Plan = Type.Union([Type.Literal('essentials'), Type.Literal('pro')]);
export type Plan = Static<typeof Plan>;

export const Role = Type.Union([Type.Literal('owner'), Type.Literal('admin'), Type.Literal('developer'), Type.Literal('viewer')]);
export type Role = Static<typeof Role>;

/** Ordered from least to most privileged. */
export const ROLE_RANK: Record<Role, number> = { viewer: 0, developer: 1, admin: 2, owner: 3 };

export const Lane = Type.Union([Type.Literal('interactive'), Type.Literal('normal'), Type.Literal('low')]);
export type Lane = Static<typeof Lane>;

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      details: Type.Optional(Type.Unknown()),
    }),
  },
  { $id: 'ErrorBody' },
);
export type ErrorBody = Static<typeof ErrorBody>;

/** Cursor pagination shared by list routes. */
export const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
