import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { DesiredState, EnvironmentStatus, ExternalDatabase, PhpSettings, ResourceLimits } from '../environment.ts';
import { Hostname, Id, Plan, SiteKind, Slug, Timestamp } from '../primitives.ts';
import { Job } from './jobs.ts';
import { EnvironmentProtection } from './protection.ts';

/**
 * Wire shapes (DTOs) of sites, their environments and domains.
 *
 * A site belongs to one organization and has environments (`production` is created with the
 * site; `staging`, … are added later). Each environment is placed on app servers and gets a
 * runtime allocation (Unix user, uid slot, one web port per server). Domains attach to one
 * environment; hostnames are unique across the platform; one domain per environment is primary
 * and the others redirect to it unless `redirectToPrimary` is false.
 *
 * Long operations answer `202` with the job (`Job` of ./jobs.ts) next to the resource.
 */

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** A hostname as typed by a user: any case (it is stored lower-cased). */
export const HostnameInput = Type.String({
  pattern: '^(?=.{1,253}$)(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\\.)+[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$',
  maxLength: 253,
  description: 'fully-qualified hostname, e.g. `shop.example.com` (lower-cased on input)',
});

export const SiteStatus = Type.Union([Type.Literal('provisioning'), Type.Literal('active'), Type.Literal('deleting')]);
export type SiteStatus = Static<typeof SiteStatus>;

export const Site = Type.Object(
  {
    id: Id,
    orgId: Id,
    name: Slug,
    kind: SiteKind,
    plan: Plan,
    status: SiteStatus,
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { additionalProperties: false },
);
export type Site = Static<typeof Site>;

/** What provisioning allocated for an environment (null fields until it is provisioned). */
export const RuntimeAllocation = Type.Object(
  {
    unixUser: Nullable(Type.String({ description: '`tp-<site>-<env>`, at most 32 characters, unique on the platform' })),
    uidSlot: Nullable(Type.Integer({ minimum: 1, description: 'host uid range 1000000000 + slot·65536 (rootless Podman)' })),
    webPorts: Type.Record(Type.String(), Type.Integer({ minimum: 20000, maximum: 29999 }), {
      description: 'server id → host port of the environment web container on that server',
    }),
    pinned: Type.Boolean({ description: 'true: placed on the servers given by the user; false: placed automatically' }),
  },
  { additionalProperties: false },
);
export type RuntimeAllocation = Static<typeof RuntimeAllocation>;

export const ContainerStatus = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    state: Type.String({ minLength: 1, maxLength: 40, description: 'running | exited | created | …' }),
    restarts: Type.Integer({ minimum: 0 }),
    cpuPercent: Type.Number({ minimum: 0 }),
    memoryBytes: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type ContainerStatus = Static<typeof ContainerStatus>;

/** The latest report of one server's agent about one environment. */
export const ObservedReport = Type.Object(
  {
    serverId: Id,
    status: EnvironmentStatus,
    message: Nullable(Type.String()),
    generation: Nullable(Type.Integer({ description: 'the generation the agent has applied' })),
    at: Timestamp,
    containers: Type.Array(ContainerStatus),
    installed: Type.Optional(Type.Boolean({ description: 'the agent reported the application installed' })),
  },
  { additionalProperties: false },
);
export type ObservedReport = Static<typeof ObservedReport>;

export const Environment = Type.Object(
  {
    id: Id,
    siteId: Id,
    name: Slug,
    desiredState: DesiredState,
    status: EnvironmentStatus,
    statusMessage: Nullable(Type.String()),
    generation: Type.Integer({ minimum: 1, description: 'bumped by every change of settings and by restart' }),
    php: PhpSettings,
    resources: ResourceLimits,
    replicas: Type.Integer({ minimum: 1, maximum: 16 }),
    serverIds: Type.Array(Id, { description: 'placement: the app servers that run this environment' }),
    externalDatabase: Nullable(ExternalDatabase),
    runtime: RuntimeAllocation,
    observed: Type.Array(ObservedReport, { description: "agents' latest reports, one per server" }),
    staging: Type.Boolean({ description: 'created by POST /sites/{id}/staging: the edge answers noindex for its hosts' }),
    protection: Nullable(EnvironmentProtection),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { additionalProperties: false },
);
export type Environment = Static<typeof Environment>;

export const Domain = Type.Object(
  {
    id: Id,
    environmentId: Id,
    hostname: Hostname,
    primary: Type.Boolean(),
    redirectToPrimary: Type.Boolean({ description: 'non-primary only: requests are redirected (301) to the primary' }),
    createdAt: Timestamp,
  },
  { additionalProperties: false },
);
export type Domain = Static<typeof Domain>;

export const SiteDetail = Type.Composite(
  [Site, Type.Object({ environments: Type.Array(Environment), domains: Type.Array(Domain) })],
  { additionalProperties: false },
);
export type SiteDetail = Static<typeof SiteDetail>;

const listOf = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), nextCursor: Nullable(Type.String()) }, { additionalProperties: false });

export const SiteList = listOf(Site);
export type SiteList = Static<typeof SiteList>;
export const EnvironmentList = listOf(Environment);
export type EnvironmentList = Static<typeof EnvironmentList>;
export const DomainList = listOf(Domain);
export type DomainList = Static<typeof DomainList>;

// ── requests ────────────────────────────────────────────────────────────────────────────

export const PhpSettingsPatch = Type.Partial(PhpSettings, { additionalProperties: false });
export const ResourceLimitsPatch = Type.Partial(ResourceLimits, { additionalProperties: false });
const Replicas = Type.Integer({ minimum: 1, maximum: 16, description: 'more than 1 needs the pro plan' });
const ServerIds = Type.Array(Id, { maxItems: 16, uniqueItems: true, description: 'pin to these app servers; [] = automatic' });

export const ListSitesQuery = Type.Object(
  {
    orgId: Type.Optional(Id),
    name: Type.Optional(Slug),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type ListSitesQuery = Static<typeof ListSitesQuery>;

/**
 * Create a site with its production environment. `externalDatabase` is required for the pro
 * plan and not allowed for essentials (422). Example:
 *   { "orgId": "org_…", "name": "shop", "kind": "woocommerce", "plan": "essentials",
 *     "domains": ["shop.example.com"], "php": { "memoryLimitMb": 512 } }
 */
export const CreateSiteRequest = Type.Object(
  {
    orgId: Id,
    name: Slug,
    kind: SiteKind,
    plan: Plan,
    domains: Type.Optional(Type.Array(HostnameInput, { maxItems: 50 })),
    php: Type.Optional(PhpSettingsPatch),
    resources: Type.Optional(ResourceLimitsPatch),
    externalDatabase: Type.Optional(ExternalDatabase),
    wordpress: Type.Optional(
      Type.Object(
        {
          title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          adminUser: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.@-]{1,60}$' })),
          adminEmail: Type.Optional(Type.String({ minLength: 3, maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$' })),
        },
        { additionalProperties: false, description: 'wordpress/woocommerce only: install settings (defaults: site name, admin)' },
      ),
    ),
  },
  { additionalProperties: false },
);
export type CreateSiteRequest = Static<typeof CreateSiteRequest>;

/** The WordPress admin login, returned ONCE by POST /sites (never stored readable after the install). */
export const WordPressLogin = Type.Object(
  { title: Type.String(), adminUser: Type.String(), adminEmail: Type.String(), adminPassword: Type.String() },
  { additionalProperties: false },
);
export type WordPressLogin = Static<typeof WordPressLogin>;

export const CreateSiteResponse = Type.Object(
  {
    site: Site,
    environment: Environment,
    domains: Type.Array(Domain),
    job: Job,
    wordpress: Type.Optional(WordPressLogin),
  },
  { additionalProperties: false },
);
export type CreateSiteResponse = Static<typeof CreateSiteResponse>;

export const UpdateSiteRequest = Type.Object({ name: Type.Optional(Slug) }, { additionalProperties: false, minProperties: 1 });
export type UpdateSiteRequest = Static<typeof UpdateSiteRequest>;

export const ConfirmQuery = Type.Object(
  {
    confirm: Type.Optional(Type.String({ maxLength: 100, description: 'the name of what is deleted' })),
    backup: Type.Optional(
      Type.Boolean({
        description: 'take a pre-delete backup of each running environment first and delete only if it succeeds (default true)',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ConfirmQuery = Static<typeof ConfirmQuery>;

export const DeleteSiteResponse = Type.Object({ site: Site, job: Job }, { additionalProperties: false });
export type DeleteSiteResponse = Static<typeof DeleteSiteResponse>;

/**
 * Add an environment to a site. On a pro site `externalDatabase` defaults to production's
 * with the database name suffixed `_<env>`; essentials sites can't have one.
 */
export const CreateEnvironmentRequest = Type.Object(
  {
    name: Slug,
    php: Type.Optional(PhpSettingsPatch),
    replicas: Type.Optional(Replicas),
    resources: Type.Optional(ResourceLimitsPatch),
    serverIds: Type.Optional(ServerIds),
    externalDatabase: Type.Optional(ExternalDatabase),
  },
  { additionalProperties: false },
);
export type CreateEnvironmentRequest = Static<typeof CreateEnvironmentRequest>;

export const UpdateEnvironmentRequest = Type.Object(
  {
    php: Type.Optional(PhpSettingsPatch),
    replicas: Type.Optional(Replicas),
    resources: Type.Optional(ResourceLimitsPatch),
    serverIds: Type.Optional(ServerIds),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateEnvironmentRequest = Static<typeof UpdateEnvironmentRequest>;

export const EnvironmentAction = Type.Union([Type.Literal('restart'), Type.Literal('stop'), Type.Literal('start')]);
export type EnvironmentAction = Static<typeof EnvironmentAction>;

export const EnvironmentJobResponse = Type.Object({ environment: Environment, job: Job }, { additionalProperties: false });
export type EnvironmentJobResponse = Static<typeof EnvironmentJobResponse>;

export const CreateDomainRequest = Type.Object(
  {
    hostname: HostnameInput,
    primary: Type.Optional(Type.Boolean({ description: 'make it the primary (the first domain always is)' })),
    redirectToPrimary: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type CreateDomainRequest = Static<typeof CreateDomainRequest>;

export const UpdateDomainRequest = Type.Object(
  {
    primary: Type.Optional(Type.Literal(true, { description: 'switch the primary to this domain' })),
    redirectToPrimary: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateDomainRequest = Static<typeof UpdateDomainRequest>;
