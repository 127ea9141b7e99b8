import { type Static, Type } from '@sinclair/typebox';

/**
 * `PUT /api/v1/environments/{id}/protection`: HTTP Basic auth at the edge for every host of the
 * environment (staging sites kept from the public and from crawlers).
 *   { "user": "preview", "password": "correct horse battery" }  → 200 Environment
 * `DELETE /api/v1/environments/{id}/protection` → 200 Environment (idempotent).
 * The password is stored only as an scrypt hash and reaches the edges in the edge snapshot as that
 * hash; the Environment shows `protection: { user } | null`, never the hash. Developers and up; the
 * audit entry names the user, never the password.
 *
 * Limits: the user is 1-64 visible ASCII characters without `:` (Basic auth splits `user:password`
 * at the first colon); the password 8-200 characters (200 bounds the scrypt input), no control
 * characters (browsers can't type them into the prompt).
 */
export const PROTECTION_USER_PATTERN = '^[!-9;-~]{1,64}$';

export const ProtectionRequest = Type.Object(
  {
    user: Type.String({ minLength: 1, maxLength: 64, pattern: PROTECTION_USER_PATTERN }),
    password: Type.String({ minLength: 8, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]*$' }),
  },
  { additionalProperties: false },
);
export type ProtectionRequest = Static<typeof ProtectionRequest>;

/** What the Environment shows of its protection. */
export const EnvironmentProtection = Type.Object({ user: Type.String() }, { additionalProperties: false });
export type EnvironmentProtection = Static<typeof EnvironmentProtection>;
