import { type Static, Type } from '@sinclair/typebox';
import { EnvironmentSpec } from './environment.ts';

/**
 * The Assignment: everything one app server's agent must run. Served by the control plane at
 * `GET /api/v1/agents/{serverId}/assignment` with a strong `ETag` (hash of the body), `304` on
 * `If-None-Match`, and long-poll (`?wait=<seconds>`) that answers as soon as it changes.
 *
 * The agent reconciles toward it, level-based: an environment present here must run (or be
 * stopped, per `desiredState`); anything the agent runs that is NOT listed here must be removed
 * (this is how deletion reaches servers, including ones that were offline at the time).
 * A change of an environment's `generation` means "re-apply": recreate its pod (restarts,
 * PHP/resource changes). `revision` is the platform's desired-state revision when built.
 *
 * Example:
 *   { "apiVersion": "triplane/v1", "kind": "Assignment", "serverId": "srv_…", "revision": 42,
 *     "environments": [ { "id": "env_…", "siteName": "shop", "name": "production", …EnvironmentSpec,
 *       "runtime": { "unixUser": "tp-shop-production", "uidSlot": 3, "webPort": 20000 } } ] }
 */
export const ASSIGNMENT_API_VERSION = 'triplane/v1';

export const AssignedRuntime = Type.Object(
  {
    unixUser: Type.String({ maxLength: 32, description: 'the Unix user the environment runs as on this server' }),
    uidSlot: Type.Integer({ minimum: 1, description: 'host uid range 1000000000 + slot·65536 … +65535' }),
    webPort: Type.Integer({ minimum: 20000, maximum: 29999, description: 'host port of the web container on this server' }),
  },
  { additionalProperties: false },
);
export type AssignedRuntime = Static<typeof AssignedRuntime>;

/**
 * A one-time WordPress install intent (wordpress/woocommerce sites): present until the agent
 * reports the environment `installed`, then dropped by the control plane. Carries the admin
 * password: agents keep it only in their 0600 state dir and never log it.
 */
export const InstallIntent = Type.Object(
  {
    title: Type.String({ minLength: 1, maxLength: 200 }),
    adminUser: Type.String({ pattern: '^[A-Za-z0-9_.@-]{1,60}$' }),
    adminEmail: Type.String({ minLength: 3, maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$' }),
    adminPassword: Type.String({ minLength: 12, maxLength: 200 }),
    url: Type.Optional(Type.String({ maxLength: 300, description: 'site URL; default http://<web host ip>:<web port>' })),
  },
  { additionalProperties: false },
);
export type InstallIntent = Static<typeof InstallIntent>;

export const AssignedEnvironment = Type.Object(
  { ...EnvironmentSpec.properties, runtime: AssignedRuntime, install: Type.Optional(InstallIntent) },
  { additionalProperties: false },
);
export type AssignedEnvironment = Static<typeof AssignedEnvironment>;

export const Assignment = Type.Object(
  {
    apiVersion: Type.Literal(ASSIGNMENT_API_VERSION),
    kind: Type.Literal('Assignment'),
    serverId: Type.String(),
    revision: Type.Integer({ minimum: 1 }),
    environments: Type.Array(AssignedEnvironment, { description: 'sorted by id' }),
  },
  { additionalProperties: false },
);
export type Assignment = Static<typeof Assignment>;
