import { type Static, Type } from '@sinclair/typebox';
import { Hostname, Slug } from './primitives.ts';

/** PHP settings of an environment, applied to php-fpm and php.ini by the runtime. */
export const PhpSettings = Type.Object(
  {
    version: Type.Literal('8.2'),
    memoryLimitMb: Type.Integer({ minimum: 32, maximum: 4096 }),
    uploadMaxMb: Type.Integer({ minimum: 1, maximum: 2048 }),
    maxExecutionTimeS: Type.Integer({ minimum: 5, maximum: 3600 }),
    workers: Type.Integer({ minimum: 1, maximum: 256, description: 'php-fpm children (pm=static)' }),
    opcache: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type PhpSettings = Static<typeof PhpSettings>;

export const DEFAULT_PHP: PhpSettings = {
  version: '8.2',
  memoryLimitMb: 256,
  uploadMaxMb: 64,
  maxExecutionTimeS: 60,
  workers: 4,
  opcache: true,
};

export const ResourceLimits = Type.Object(
  {
    cpuMillis: Type.Integer({ minimum: 100, maximum: 64000 }),
    memoryMb: Type.Integer({ minimum: 128, maximum: 262144 }),
    pids: Type.Integer({ minimum: 64, maximum: 65536 }),
  },
  { additionalProperties: false },
);
export type ResourceLimits = Static<typeof ResourceLimits>;

export const DEFAULT_RESOURCES: ResourceLimits = { cpuMillis: 2000, memoryMb: 1024, pids: 1024 };

/** Pro plan: the environment uses an external MySQL/MariaDB instead of a database container. */
export const ExternalDatabase = Type.Object(
  {
    host: Type.Union([Hostname, Type.String({ format: 'ipv4' }), Type.Literal('localhost')]),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    name: Type.String({ pattern: '^[A-Za-z0-9_]{1,64}$' }),
    user: Type.String({ pattern: '^[A-Za-z0-9_]{1,32}$' }),
  },
  { additionalProperties: false },
);
export type ExternalDatabase = Static<typeof ExternalDatabase>;

export const DesiredState = Type.Union([Type.Literal('running'), Type.Literal('stopped')]);
export type DesiredState = Static<typeof DesiredState>;

export const EnvironmentStatus = Type.Union([
  Type.Literal('pending'),
  Type.Literal('provisioning'),
  Type.Literal('running'),
  Type.Literal('degraded'),
  Type.Literal('crash-looping'),
  Type.Literal('stopped'),
  Type.Literal('failed'),
  Type.Literal('deleting'),
]);
export type EnvironmentStatus = Static<typeof EnvironmentStatus>;

/** The desired state of one environment, as agents and edges receive it. */
export const EnvironmentSpec = Type.Object(
  {
    id: Type.String(),
    siteId: Type.String(),
    orgId: Type.String(),
    siteName: Slug,
    name: Slug,
    kind: Type.String(),
    plan: Type.String(),
    desiredState: DesiredState,
    generation: Type.Integer({ minimum: 1 }),
    php: PhpSettings,
    resources: ResourceLimits,
    replicas: Type.Integer({ minimum: 1, maximum: 16 }),
    serverIds: Type.Array(Type.String()),
    externalDatabase: Type.Union([ExternalDatabase, Type.Null()]),
    domains: Type.Array(Hostname),
  },
  { additionalProperties: false },
);
export type EnvironmentSpec = Static<typeof EnvironmentSpec>;
