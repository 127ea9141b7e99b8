import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { EnvironmentStatus } from '../environment.ts';
import { Id, Slug, Timestamp } from '../primitives.ts';
import { ContainerStatus } from './sites.ts';

/**
 * Wire shapes of servers (platform level, superusers only) and of the agent protocol.
 *
 * A server's life: created by a superuser (`pending`, with a one-time `tpj_…` join token valid
 * 24 h) → the agent calls `POST /agents/join` with the token and gets its `tpa_…` credential
 * (the token is consumed) → the agent heartbeats; the server counts as `online` while the last
 * heartbeat is younger than 60 s and `offline` after (computed when read).
 */

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const ServerRole = Type.Union([Type.Literal('app'), Type.Literal('edge')]);
export type ServerRole = Static<typeof ServerRole>;

export const ServerStatus = Type.Union([Type.Literal('pending'), Type.Literal('online'), Type.Literal('offline')]);
export type ServerStatus = Static<typeof ServerStatus>;

/** Facts an agent reports about its machine; all optional. */
export const ServerFacts = Type.Object(
  {
    hostname: Type.Optional(Type.String({ maxLength: 253 })),
    os: Type.Optional(Type.String({ maxLength: 200 })),
    kernel: Type.Optional(Type.String({ maxLength: 200 })),
    arch: Type.Optional(Type.String({ maxLength: 40 })),
    cpus: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000 })),
    memoryBytes: Type.Optional(Type.Integer({ minimum: 0 })),
    diskFreeBytes: Type.Optional(Type.Integer({ minimum: 0 })),
    load1: Type.Optional(Type.Number({ minimum: 0 })),
    uptimeSeconds: Type.Optional(Type.Integer({ minimum: 0 })),
    podmanVersion: Type.Optional(Type.String({ maxLength: 100 })),
  },
  { additionalProperties: false },
);
export type ServerFacts = Static<typeof ServerFacts>;

/** Host name, IPv4 or IPv6 address (no port): where the edge reaches this server's web ports. */
export const ServerAddress = Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:-]+$' });

export const Server = Type.Object(
  {
    id: Id,
    name: Slug,
    role: ServerRole,
    status: ServerStatus,
    address: Nullable(Type.String()),
    agentVersion: Nullable(Type.String()),
    facts: Nullable(ServerFacts),
    joinedAt: Nullable(Timestamp),
    lastHeartbeatAt: Nullable(Timestamp),
    joinTokenExpiresAt: Nullable(Timestamp),
    environmentCount: Type.Integer({ minimum: 0, description: 'environments placed on it' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { additionalProperties: false },
);
export type Server = Static<typeof Server>;

export const ServerList = Type.Object(
  { items: Type.Array(Server), nextCursor: Nullable(Type.String()) },
  { additionalProperties: false },
);
export type ServerList = Static<typeof ServerList>;

/** One environment placed on a server, as `GET /servers/{id}` lists them. */
export const PlacedEnvironment = Type.Object(
  {
    id: Id,
    siteId: Id,
    orgId: Id,
    siteName: Slug,
    name: Slug,
    status: EnvironmentStatus,
    webPort: Nullable(Type.Integer()),
  },
  { additionalProperties: false },
);
export type PlacedEnvironment = Static<typeof PlacedEnvironment>;

export const ServerDetail = Type.Composite([Server, Type.Object({ environments: Type.Array(PlacedEnvironment) })], {
  additionalProperties: false,
});
export type ServerDetail = Static<typeof ServerDetail>;

export const CreateServerRequest = Type.Object({ name: Slug, role: ServerRole }, { additionalProperties: false });
export type CreateServerRequest = Static<typeof CreateServerRequest>;

/** The one time a join token is shown. */
export const JoinTokenResponse = Type.Object(
  { joinToken: Type.String({ description: '`tpj_…`, single use' }), expiresAt: Timestamp },
  { additionalProperties: false },
);
export type JoinTokenResponse = Static<typeof JoinTokenResponse>;

export const CreateServerResponse = Type.Object(
  { server: Server, joinToken: Type.String(), joinTokenExpiresAt: Timestamp },
  { additionalProperties: false },
);
export type CreateServerResponse = Static<typeof CreateServerResponse>;

export const JoinRequest = Type.Object(
  {
    joinToken: Type.String({ minLength: 8, maxLength: 200 }),
    address: Type.Optional(ServerAddress),
    agentVersion: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    facts: Type.Optional(ServerFacts),
  },
  { additionalProperties: false },
);
export type JoinRequest = Static<typeof JoinRequest>;

/** The agent keeps `credential` (`tpa_…`) and sends it as a Bearer token from now on. */
export const JoinResponse = Type.Object(
  { serverId: Id, role: ServerRole, credential: Type.String() },
  { additionalProperties: false },
);
export type JoinResponse = Static<typeof JoinResponse>;

export const HeartbeatRequest = Type.Object(
  { facts: Type.Optional(ServerFacts), agentVersion: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) },
  { additionalProperties: false },
);
export type HeartbeatRequest = Static<typeof HeartbeatRequest>;

export const HeartbeatResponse = Type.Object(
  { serverId: Id, status: ServerStatus, revision: Type.Integer({ description: 'current desired-state revision' }) },
  { additionalProperties: false },
);
export type HeartbeatResponse = Static<typeof HeartbeatResponse>;

/**
 * What an agent runs: the COMPLETE list of environments present on its server. An environment
 * missing from a report is taken as gone from that server (this is how deletion is confirmed).
 */
export const StatusReportRequest = Type.Object(
  {
    environments: Type.Array(
      Type.Object(
        {
          id: Id,
          status: EnvironmentStatus,
          message: Type.Optional(Type.String({ maxLength: 1000 })),
          generation: Type.Optional(Type.Integer({ minimum: 0, description: 'the generation applied' })),
          containers: Type.Optional(Type.Array(ContainerStatus, { maxItems: 50 })),
          installed: Type.Optional(Type.Boolean({ description: 'the application (WordPress) is installed' })),
        },
        { additionalProperties: false },
      ),
      { maxItems: 1000 },
    ),
  },
  { additionalProperties: false },
);
export type StatusReportRequest = Static<typeof StatusReportRequest>;

export const StatusReportResponse = Type.Object(
  {
    accepted: Type.Integer({ description: 'reports stored' }),
    ignored: Type.Array(Id, { description: 'environment ids not placed on this server' }),
  },
  { additionalProperties: false },
);
export type StatusReportResponse = Static<typeof StatusReportResponse>;

export const WatchQuery = Type.Object(
  {
    wait: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 3600, description: 'long-poll: hold up to this many seconds for a change' }),
    ),
  },
  { additionalProperties: false },
);
export type WatchQuery = Static<typeof WatchQuery>;

export const ServerIdParams = Type.Object({ serverId: Id }, { additionalProperties: false });
