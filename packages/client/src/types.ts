/**
 * Shapes of the API's objects: the wire schemas of packages/spec/src/api/* (`Static<typeof …>`),
 * imported as types only, so the client has no runtime dependency at all.
 */
export type {
  AddMemberRequest,
  ApiToken,
  AuditEntry,
  AuditList,
  AuditQuery,
  Backup,
  BackupList,
  CloneSiteRequest,
  CreateApiTokenRequest,
  CreateDomainRequest,
  CreatedApiToken,
  CreateEnvironmentRequest,
  CreateOrganizationRequest,
  CreateServerRequest,
  CreateServerResponse,
  CreateSiteRequest,
  CreateSiteResponse,
  DeleteSiteResponse,
  Domain,
  Environment,
  EnvironmentAction,
  EnvironmentJobResponse,
  Job,
  JobList,
  JobLog,
  JobLogList,
  JobState,
  LoginResponse,
  Membership,
  MeResponse,
  Organization,
  PurgeRequest,
  PurgeResponse,
  RestoreAsSiteRequest,
  RestoreRequest,
  RestoreScope,
  Role,
  Server,
  ServerDetail,
  ServerRole,
  Site,
  SiteDetail,
  StagingRequest,
  SyncDatabase,
  SyncRequest,
  UpdateDomainRequest,
  UpdateEnvironmentRequest,
  UpdateMemberRequest,
  UpdateOrganizationRequest,
  User,
} from '@triplane/spec';

/** `POST /sites/{id}/clone`, `/sites/{id}/staging` and `/backups/{id}/restore-as-site`. */
export interface CloneResponse {
  site: import('@triplane/spec').Site;
  environment: import('@triplane/spec').Environment;
  domains: import('@triplane/spec').Domain[];
  job: import('@triplane/spec').Job;
  syncJob: import('@triplane/spec').Job;
}

/** One page of a list route. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface ListParams {
  limit?: number;
  cursor?: string;
}

/** Terminal job states (a copy of spec's, so this module has no runtime imports). */
export const TERMINAL_JOB_STATES: readonly string[] = ['succeeded', 'failed', 'cancelled'];
