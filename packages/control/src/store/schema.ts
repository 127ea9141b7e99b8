import type { Generated } from 'kysely';

/**
 * Row types of the control-plane store, one interface per table. Portable across SQLite
 * and PostgreSQL on purpose: ids are text, booleans are integers 0/1, JSON is text,
 * human timestamps are ISO-8601 text (sortable), scheduling times are epoch ms integers.
 */
export interface OrganizationsTable {
  id: string;
  slug: string;
  name: string;
  created_at: string;
  updated_at: string;
}

export interface UsersTable {
  id: string;
  email: string;
  name: string;
  password_hash: string | null;
  is_superuser: number;
  disabled: number;
  created_at: string;
  updated_at: string;
}

export interface MembershipsTable {
  id: string;
  org_id: string;
  user_id: string;
  /** null = the whole organization */
  site_id: string | null;
  /** site id, or '*' for the whole organization (unique key without nullable columns) */
  scope: string;
  role: string;
  created_at: string;
}

export interface ApiTokensTable {
  id: string;
  user_id: string;
  name: string;
  token_hash: string;
  token_prefix: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  token_hash: string;
  csrf_hash: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  ip: string | null;
  user_agent: string | null;
}

export interface ServersTable {
  id: string;
  name: string;
  /** 'app' runs site pods (agent), 'edge' runs the edge */
  role: string;
  /** pending (not joined yet) | online | offline */
  status: string;
  address: string | null;
  join_token_hash: string | null;
  join_token_expires_at: string | null;
  credential_hash: string | null;
  joined_at: string | null;
  last_heartbeat_at: string | null;
  agent_version: string | null;
  /** JSON: facts reported by the agent (cpu count, memory, load, …) */
  facts: string | null;
  created_at: string;
  updated_at: string;
}

export interface SitesTable {
  id: string;
  org_id: string;
  name: string;
  kind: string;
  plan: string;
  status: string;
  created_at: string;
  updated_at: string;
}

export interface EnvironmentsTable {
  id: string;
  site_id: string;
  name: string;
  desired_state: string;
  status: string;
  status_message: string | null;
  generation: number;
  /** JSON PhpSettings */
  php: string;
  /** JSON ResourceLimits */
  resources: string;
  replicas: number;
  /** JSON string[]: placement */
  server_ids: string;
  /** JSON ExternalDatabase | null */
  external_database: string | null;
  /** JSON: what provisioning allocated (unix user, ports, volume names) */
  runtime: string | null;
  /** JSON: last status report from the agent */
  observed: string | null;
  /** JSON InstallIntent (one-time WordPress install, holds the admin password); NULL once installed */
  install_intent?: string | null;
  /** 1: created as a staging copy (noindex at the edge); migration 007 */
  staging: Generated<number>;
  /** JSON { user, hash } (scrypt, never the password) | null: Basic auth at the edge; migration 007 */
  protection: Generated<string | null>;
  created_at: string;
  updated_at: string;
}

export interface DomainsTable {
  id: string;
  environment_id: string;
  hostname: string;
  is_primary: number;
  /** 1: requests to this (non-primary) hostname are redirected to the primary */
  redirect_to_primary: number;
  created_at: string;
}

export interface AuditLogTable {
  id: string;
  at: string;
  org_id: string | null;
  /** user | server | system */
  actor_type: string;
  actor_id: string | null;
  /** how the actor authenticated: token | session | server | system */
  actor_via: string;
  action: string;
  target_type: string;
  target_id: string | null;
  ip: string | null;
  user_agent: string | null;
  /** JSON, never containing secrets */
  details: string | null;
}

export interface JobsTable {
  id: string;
  kind: string;
  lane: string;
  /** lane rank: interactive 0, normal 1, low 2 — claimed in ascending order */
  priority: number;
  /** queued | running | succeeded | failed | cancelled */
  state: string;
  org_id: string | null;
  site_id: string | null;
  environment_id: string | null;
  params: string;
  result: string | null;
  error: string | null;
  progress: number;
  message: string;
  attempts: number;
  max_attempts: number;
  /** epoch ms: not claimable before */
  run_at: number;
  lease_owner: string | null;
  /** epoch ms */
  lease_expires_at: number | null;
  idempotency_key: string | null;
  cancel_requested: number;
  created_by: string | null;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** the app server whose agent runs this job (backups, restores…); null: a control-plane worker */
  server_id: string | null;
}

export interface JobLogsTable {
  job_id: string;
  seq: number;
  at: string;
  level: string;
  message: string;
}

export interface RateLimitsTable {
  key: string;
  /** epoch ms */
  window_start: number;
  count: number;
}

export interface StateRevisionTable {
  id: Generated<number>;
  revision: number;
}

export interface EdgePurgesTable {
  /** contiguous platform-wide sequence (1, 2, 3, …) */
  seq: number;
  id: string;
  environment_id: string;
  /** url | tag | all */
  kind: string;
  /** JSON string[]: urls or tags; [] for all */
  purge_values: string;
  value_count: number;
  created_at: string;
  /** user id of who asked (the audit log has the rest) */
  actor_id: string | null;
}

/** WAF events posted by edges (migration 004). */
export interface WafEventsTable {
  /** newSortableId('wafev'): time-ordered */
  id: string;
  environment_id: string;
  edge_server_id: string | null;
  received_at: string;
  /** when the edge saw the request (ISO) */
  event_time: string;
  request_id: string;
  client_ip: string;
  method: string;
  host: string;
  uri: string;
  status: number;
  /** blocked | detected */
  action: string;
  anomaly_score: number;
  outbound_anomaly_score: number;
  /** `,942100,949110,` */
  rule_ids: string;
  /** JSON [{id, msg}] */
  rules: string;
}

export interface DB {
  organizations: OrganizationsTable;
  users: UsersTable;
  memberships: MembershipsTable;
  api_tokens: ApiTokensTable;
  sessions: SessionsTable;
  servers: ServersTable;
  sites: SitesTable;
  environments: EnvironmentsTable;
  domains: DomainsTable;
  audit_log: AuditLogTable;
  jobs: JobsTable;
  job_logs: JobLogsTable;
  rate_limits: RateLimitsTable;
  state_revision: StateRevisionTable;
  edge_purges: EdgePurgesTable;
  waf_events: WafEventsTable;
  backups: BackupsTable;
}

export interface BackupsTable {
  id: string;
  org_id: string;
  site_id: string;
  environment_id: string;
  site_name: string;
  environment_name: string;
  server_id: string;
  /** restic snapshot of db.sql (null: the environment has no database of its own) */
  db_snapshot_id: string | null;
  /** restic snapshot of the files + environment.json */
  files_snapshot_id: string;
  /** scheduled | manual | pre-restore | pre-push | pre-delete | clone */
  kind: string;
  /** available | pruned */
  state: string;
  job_id: string | null;
  db_bytes: number;
  files_bytes: number;
  added_bytes: number;
  snapshot_time: string;
  created_at: string;
  /** JSON {kind, plan, php, resources, url} of the source at record time (migration 010); null before */
  source_spec: string | null;
}
