import { type Static, Type } from '@sinclair/typebox';
import { Hostname, Id, Slug, Timestamp } from '../primitives.ts';

/**
 * Backups (restic snapshots) of environments.
 *
 *   POST /environments/{id}/backups          {} → 202 {job}        take a manual snapshot
 *   GET  /environments/{id}/backups          → {items}             newest first, confirmed by restic only
 *   GET  /backups/{id}                       → Backup
 *   POST /backups/{id}/restore               {scope, environmentId?} → 202 {job}
 *   POST /backups/{id}/restore-as-site       {name, domains?} → 202 {site, environment, domains, job, syncJob}
 *        a new site from a production backup, also one whose site was deleted (org admin)
 *   POST /backups/{id}/download              {} → 202 {job}        a `backup.export` job: the agent streams
 *        the backup as a .tar.gz (db.sql, wp-content/…, environment.json) to the control plane;
 *        its result is {artifact: BackupArtifact}
 *   GET  /jobs/{jobId}/artifact              → application/gzip   the archive, for 24 h after the job
 *
 * A backup is two restic snapshots tagged `backup=<id>`, `site=<id>`, `env=<id>`, `kind=<kind>`:
 * `db.sql` (mariadb-dump --single-transaction, streamed into restic) and the files (the
 * environment's wp-content: uploads, themes, plugins; plus `environment.json`, the spec).
 */
export const BackupKind = Type.Union([
  Type.Literal('scheduled'),
  Type.Literal('manual'),
  Type.Literal('pre-restore'),
  Type.Literal('pre-push'),
  Type.Literal('pre-delete'),
  Type.Literal('clone'),
]);
export type BackupKind = Static<typeof BackupKind>;

export const RestoreScope = Type.Union([Type.Literal('full'), Type.Literal('database'), Type.Literal('files')]);
export type RestoreScope = Static<typeof RestoreScope>;

export const Backup = Type.Object(
  {
    id: Id,
    siteId: Id,
    environmentId: Id,
    siteName: Type.String(),
    environmentName: Type.String(),
    serverId: Id,
    dbSnapshotId: Type.Union([Type.String(), Type.Null()], { description: 'restic snapshot of db.sql' }),
    filesSnapshotId: Type.String({ description: 'restic snapshot of the files and environment.json' }),
    kind: BackupKind,
    state: Type.Union([Type.Literal('available'), Type.Literal('pruned')]),
    jobId: Type.Union([Id, Type.Null()]),
    dbBytes: Type.Integer(),
    filesBytes: Type.Integer(),
    addedBytes: Type.Integer({ description: 'new data this snapshot added to the repository (after dedup)' }),
    snapshotTime: Timestamp,
    createdAt: Timestamp,
  },
  { additionalProperties: false },
);
export type Backup = Static<typeof Backup>;

export const BackupList = Type.Object({ items: Type.Array(Backup) }, { additionalProperties: false });
export type BackupList = Static<typeof BackupList>;

export const BackupCreateRequest = Type.Object({}, { additionalProperties: false });

export const RestoreRequest = Type.Object(
  {
    scope: Type.Optional(RestoreScope),
    environmentId: Type.Optional(Id),
  },
  { additionalProperties: false },
);
export type RestoreRequest = Static<typeof RestoreRequest>;

export const BackupIdParams = Type.Object({ backupId: Id }, { additionalProperties: false });

/** `result.artifact` of a finished `backup.export` job. */
export const BackupArtifact = Type.Object(
  {
    bytes: Type.Integer({ minimum: 0 }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  },
  { additionalProperties: false },
);
export type BackupArtifact = Static<typeof BackupArtifact>;

/** `POST /agents/{id}/jobs/{jobId}/backups`: a backup the job made, confirmed by restic. */
export const BackupRecordRequest = Type.Object(
  {
    owner: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,80}$' }),
    backupId: Id,
    environmentId: Id,
    kind: BackupKind,
    dbSnapshotId: Type.Union([Type.String({ pattern: '^[0-9a-f]{8,64}$' }), Type.Null()]),
    filesSnapshotId: Type.String({ pattern: '^[0-9a-f]{8,64}$' }),
    snapshotTime: Timestamp,
    dbBytes: Type.Integer({ minimum: 0 }),
    filesBytes: Type.Integer({ minimum: 0 }),
    addedBytes: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type BackupRecordRequest = Static<typeof BackupRecordRequest>;

/**
 * Copying a site's data between environments (all run as `env.sync` jobs on the app server that
 * holds the source; the target must be on the same server):
 *
 *   POST /sites/{id}/clone         {name, domains?, fromBackupId?}  → 202 a new site, its production
 *        environment is created on the source's server and filled from the source's production
 *        (a fresh `clone` backup, or the given backup), URLs rewritten for the new domain
 *   POST /sites/{id}/staging       {name?, domains?}  → 202 a staging environment filled from
 *        production, marked noindex
 *   POST /environments/{id}/push   {to?, files?, database?, tables?}  → 202 this environment's data
 *        into `to` (default production); a `pre-push` backup of the target first
 *   POST /environments/{id}/pull   {from?, files?, database?, tables?} → 202 the reverse
 *
 * `database`: `woo-safe` (default for push: every table except WooCommerce orders, customers,
 * sessions, payment tokens and users — and, for legacy orders in posts, posts/postmeta), `all`
 * (default for pull and clone), `tables` (exactly `tables`), or `none`.
 */
export const SyncDatabase = Type.Union([
  Type.Literal('woo-safe'),
  Type.Literal('all'),
  Type.Literal('tables'),
  Type.Literal('none'),
]);
export type SyncDatabase = Static<typeof SyncDatabase>;

const TableName = Type.String({ pattern: '^[A-Za-z0-9_$]{1,64}$' });

export const SyncRequest = Type.Object(
  {
    to: Type.Optional(Id),
    from: Type.Optional(Id),
    files: Type.Optional(Type.Boolean()),
    database: Type.Optional(SyncDatabase),
    tables: Type.Optional(Type.Array(TableName, { minItems: 1, maxItems: 500 })),
  },
  { additionalProperties: false },
);
export type SyncRequest = Static<typeof SyncRequest>;

export const CloneSiteRequest = Type.Object(
  {
    name: Slug,
    domains: Type.Optional(Type.Array(Hostname, { maxItems: 20 })),
    fromBackupId: Type.Optional(Id),
  },
  { additionalProperties: false },
);
export type CloneSiteRequest = Static<typeof CloneSiteRequest>;

/**
 * `POST /backups/{id}/restore-as-site`: a new site (same application and plan as the backup's)
 * filled from a production backup — the way back for a deleted site's `pre-delete` backup.
 */
export const RestoreAsSiteRequest = Type.Object(
  {
    name: Slug,
    /** The new site's domains, the first primary; the old URL is rewritten to it. */
    domains: Type.Optional(Type.Array(Hostname, { maxItems: 20 })),
  },
  { additionalProperties: false },
);
export type RestoreAsSiteRequest = Static<typeof RestoreAsSiteRequest>;

export const StagingRequest = Type.Object(
  {
    name: Type.Optional(Slug),
    domains: Type.Optional(Type.Array(Hostname, { maxItems: 20 })),
    /** Fill it from this backup of the site instead of live production. */
    fromBackupId: Type.Optional(Id),
  },
  { additionalProperties: false },
);
export type StagingRequest = Static<typeof StagingRequest>;
