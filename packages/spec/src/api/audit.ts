import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Id, Timestamp } from '../primitives.ts';

/**
 * The audit log as the API shows it: one entry per mutation (who, what, when, from where),
 * newest first. `details` is structured context and never contains secrets.
 */
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const AuditEntry = Type.Object(
  {
    id: Type.String(),
    at: Timestamp,
    orgId: Nullable(Type.String()),
    actorType: Type.String({ description: 'user | server | system | anonymous' }),
    actorId: Nullable(Type.String()),
    actorVia: Type.String({ description: 'token | session | server | system | none' }),
    action: Type.String({ description: 'dotted verb, e.g. `site.create`' }),
    targetType: Type.String(),
    targetId: Nullable(Type.String()),
    ip: Nullable(Type.String()),
    userAgent: Nullable(Type.String()),
    details: Type.Unknown(),
  },
  { additionalProperties: false },
);
export type AuditEntry = Static<typeof AuditEntry>;

export const AuditList = Type.Object(
  { items: Type.Array(AuditEntry), nextCursor: Nullable(Type.String()) },
  { additionalProperties: false },
);
export type AuditList = Static<typeof AuditList>;

export const AuditQuery = Type.Object(
  {
    orgId: Type.Optional(Id),
    action: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    actorId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    targetType: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    targetId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    since: Type.Optional(Timestamp),
    until: Type.Optional(Timestamp),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type AuditQuery = Static<typeof AuditQuery>;
