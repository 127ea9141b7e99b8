import type {
  DbRowsPage,
  DbTableList,
  EnvironmentMetrics,
  FileDeleteResponse,
  FileEntry,
  FileListing,
  LogLine,
  LogList,
  MetricsRange,
} from '@triplane/spec';
import { errorFromBody } from './errors.ts';
import { type ClientOptions, type Query, seg, Transport } from './http.ts';
import { type FollowLogsOptions, followLogs, type LogSearch } from './log-stream.ts';
import type {
  AddMemberRequest,
  ApiToken,
  AuditEntry,
  AuditQuery,
  Backup,
  BackupList,
  CloneResponse,
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
  JobLogList,
  JobState,
  ListParams,
  LoginResponse,
  Membership,
  MeResponse,
  Organization,
  Page,
  PurgeRequest,
  PurgeResponse,
  RestoreAsSiteRequest,
  RestoreRequest,
  Server,
  ServerDetail,
  Site,
  SiteDetail,
  StagingRequest,
  SyncRequest,
  UpdateDomainRequest,
  UpdateEnvironmentRequest,
  UpdateMemberRequest,
  UpdateOrganizationRequest,
  User,
} from './types.ts';
import { followJob, type JobEvent, type WaitOptions, type WatchOptions, waitForJob } from './watch.ts';

/** base64 of bytes, in a browser as in Node (no Buffer). */
function toBase64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** List routes answer `{items, nextCursor}`; a bare array is accepted too. */
function asPage<T>(v: unknown): Page<T> {
  if (Array.isArray(v)) return { items: v as T[], nextCursor: null };
  const o = (v ?? {}) as { items?: T[]; nextCursor?: string | null };
  return { items: o.items ?? [], nextCursor: o.nextCursor ?? null };
}

export interface Watch {
  /** Resolves with the final job. */
  done: Promise<Job>;
  /** Stop watching; `done` rejects with an AbortError. */
  close(): void;
}

/**
 * Typed client of the Triplane control-plane API (`/api/v1`), on the global fetch.
 *
 * Example:
 *   const c = new TriplaneClient({ baseUrl: 'http://127.0.0.1:8800', token });
 *   const { items } = await c.sites.list({ orgId });
 *   const job = await c.waitForJob(jobId, { onProgress: (j) => console.log(j.progress) });
 */
export class TriplaneClient {
  readonly http: Transport;

  constructor(o: ClientOptions) {
    this.http = new Transport(o);
  }

  get baseUrl(): string {
    return this.http.baseUrl;
  }

  #get<T>(path: string, query?: Query): Promise<T> {
    return this.http.request<T>('GET', path, { query });
  }
  #send<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.http.request<T>(method, path, { body });
  }
  async #list<T>(path: string, query?: Query): Promise<Page<T>> {
    return asPage<T>(await this.#get<unknown>(path, query));
  }

  /** Every page of a list, followed through `nextCursor`. */
  async all<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>, max = 100_000): Promise<T[]> {
    const out: T[] = [];
    let cursor: string | undefined;
    do {
      const p = await fetchPage(cursor);
      out.push(...p.items);
      cursor = p.nextCursor ?? undefined;
    } while (cursor && out.length < max);
    return out;
  }

  readonly health = {
    healthz: () => this.#get<{ status: string }>('/healthz'),
    readyz: () => this.#get<{ status: string }>('/readyz'),
  };

  readonly auth = {
    me: () => this.#get<MeResponse>('/auth/me'),
    /** Dashboard sign-in: sets the session cookie; send `csrfToken` as `x-csrf-token` afterwards. */
    login: (email: string, password: string) => this.#send<LoginResponse>('POST', '/auth/login', { email, password }),
    logout: () => this.#send<void>('POST', '/auth/logout'),
  };

  readonly users = {
    list: (q: ListParams = {}) => this.#list<User>('/users', { ...q }),
    get: (id: string) => this.#get<User>(`/users/${seg(id)}`),
  };

  readonly orgs = {
    list: (q: ListParams = {}) => this.#list<Organization>('/orgs', { ...q }),
    get: (id: string) => this.#get<Organization>(`/orgs/${seg(id)}`),
    create: (body: CreateOrganizationRequest) => this.#send<Organization>('POST', '/orgs', body),
    update: (id: string, body: UpdateOrganizationRequest) => this.#send<Organization>('PATCH', `/orgs/${seg(id)}`, body),
  };

  readonly members = {
    list: (orgId: string, q: ListParams = {}) => this.#list<Membership>(`/orgs/${seg(orgId)}/members`, { ...q }),
    add: (orgId: string, body: AddMemberRequest) => this.#send<Membership>('POST', `/orgs/${seg(orgId)}/members`, body),
    update: (orgId: string, memberId: string, body: UpdateMemberRequest) =>
      this.#send<Membership>('PATCH', `/orgs/${seg(orgId)}/members/${seg(memberId)}`, body),
    remove: (orgId: string, memberId: string) => this.#send<void>('DELETE', `/orgs/${seg(orgId)}/members/${seg(memberId)}`),
  };

  readonly tokens = {
    list: (q: ListParams = {}) => this.#list<ApiToken>('/tokens', { ...q }),
    /** The secret is in the answer (`token`), exactly once. */
    create: (body: CreateApiTokenRequest) => this.#send<CreatedApiToken>('POST', '/tokens', body),
    revoke: (id: string) => this.#send<void>('DELETE', `/tokens/${seg(id)}`),
  };

  readonly servers = {
    list: (q: ListParams = {}) => this.#list<Server>('/servers', { ...q }),
    get: (id: string) => this.#get<ServerDetail>(`/servers/${seg(id)}`),
    /** The one-time join token is in the answer (`joinToken`). */
    create: (body: CreateServerRequest) => this.#send<CreateServerResponse>('POST', '/servers', body),
    delete: (id: string) => this.#send<unknown>('DELETE', `/servers/${seg(id)}`),
  };

  readonly sites = {
    list: (q: ListParams & { orgId?: string; name?: string } = {}) => this.#list<Site>('/sites', { ...q }),
    /** The site with its environments and domains. */
    get: (id: string) => this.#get<SiteDetail>(`/sites/${seg(id)}`),
    /** 202: the site, its production environment, its domains and the provisioning job. */
    create: (body: CreateSiteRequest) => this.#send<CreateSiteResponse>('POST', '/sites', body),
    update: (id: string, body: { name?: string }) => this.#send<Site>('PATCH', `/sites/${seg(id)}`, body),
    /**
     * 202: the site and the deletion job. `confirm` is the site's name. A pre-delete backup of
     * each running environment is taken first (the site keeps running until it is confirmed)
     * unless `backup: false`.
     */
    delete: (id: string, confirm?: string, o: { backup?: boolean } = {}) =>
      this.http.request<DeleteSiteResponse>('DELETE', `/sites/${seg(id)}`, { query: { confirm, backup: o.backup } }),
  };

  readonly environments = {
    list: (siteId: string, q: ListParams = {}) => this.#list<Environment>(`/sites/${seg(siteId)}/environments`, { ...q }),
    get: (id: string) => this.#get<Environment>(`/environments/${seg(id)}`),
    create: (siteId: string, body: CreateEnvironmentRequest) =>
      this.#send<EnvironmentJobResponse>('POST', `/sites/${seg(siteId)}/environments`, body),
    /** Applied at once (a new generation); agents converge to it. */
    update: (id: string, body: UpdateEnvironmentRequest) => this.#send<Environment>('PATCH', `/environments/${seg(id)}`, body),
    /** Like sites.delete: a pre-delete backup first unless `backup: false`. */
    delete: (id: string, confirm?: string, o: { backup?: boolean } = {}) =>
      this.http.request<EnvironmentJobResponse>('DELETE', `/environments/${seg(id)}`, {
        query: { confirm, backup: o.backup },
      }),
    action: (id: string, action: EnvironmentAction) =>
      this.#send<EnvironmentJobResponse>('POST', `/environments/${seg(id)}/actions/${action}`),
    /** 202: recorded; every edge drops the matching cached pages within moments (exactly one of urls, tags, all). */
    purge: (id: string, body: PurgeRequest) => this.#send<PurgeResponse>('POST', `/environments/${seg(id)}/purge`, body),
    /** Traffic, latency, cache, WAF, upstream and container series (docs/metrics.md); `series`: comma-separated names. */
    metrics: (id: string, q: { range?: MetricsRange; series?: string } = {}) =>
      this.#get<EnvironmentMetrics>(`/environments/${seg(id)}/metrics`, { ...q }),
    /** Search the last 24 h of access and error lines, newest first (docs/logs.md); follow `nextCursor`. */
    logs: (id: string, q: LogSearch = {}) => this.#get<LogList>(`/environments/${seg(id)}/logs`, { ...q }),
    /** Follow the live log (SSE; reconnects and resumes after the last line seen); resolves when `o.signal` aborts. */
    followLogs: (id: string, onLine: (line: LogLine) => void, o: FollowLogsOptions = {}) => followLogs(this.http, id, onLine, o),
  };

  /** Backups (restic snapshots) of environments; taking and restoring one are jobs on the app server. */
  readonly backups = {
    /** Newest first; only snapshots restic confirmed. `include: 'all'` adds pruned ones. */
    list: (environmentId: string, q: { include?: 'available' | 'all' } = {}) =>
      this.#get<BackupList>(`/environments/${seg(environmentId)}/backups`, { ...q }),
    /** An organization's backups (org-wide viewer); `deletedSites`: only what deleted sites left. */
    listOrg: (
      orgId: string,
      q: { siteId?: string; kind?: string; deletedSites?: boolean; include?: 'available' | 'all'; limit?: number } = {},
    ) => this.#get<BackupList>(`/orgs/${seg(orgId)}/backups`, { ...q }),
    get: (id: string) => this.#get<Backup>(`/backups/${seg(id)}`),
    /** 202 with the `backup.create` job. */
    create: (environmentId: string) => this.#send<{ job: Job }>('POST', `/environments/${seg(environmentId)}/backups`, {}),
    /** 202: a new site (production pinned to the source's server) + its `env.sync` job. */
    cloneSite: (siteId: string, body: CloneSiteRequest) => this.#send<CloneResponse>('POST', `/sites/${seg(siteId)}/clone`, body),
    /** 202: a staging environment filled from production (noindex) + its `env.sync` job. */
    createStaging: (siteId: string, body: StagingRequest = {}) =>
      this.#send<CloneResponse>('POST', `/sites/${seg(siteId)}/staging`, body),
    /** 202: copy this environment into `to` (default production; WooCommerce-safe by default). */
    push: (environmentId: string, body: SyncRequest = {}) =>
      this.#send<{ job: Job }>('POST', `/environments/${seg(environmentId)}/push`, body),
    /** 202: copy `from` (default production) into this environment. */
    pull: (environmentId: string, body: SyncRequest = {}) =>
      this.#send<{ job: Job }>('POST', `/environments/${seg(environmentId)}/pull`, body),
    /** 202: a new site filled from a production backup (also a deleted site's) + its `env.sync` job; org admin. */
    restoreAsSite: (id: string, body: RestoreAsSiteRequest) =>
      this.#send<CloneResponse>('POST', `/backups/${seg(id)}/restore-as-site`, body),
    /** 202 with the `backup.restore` job; a safety backup is taken first. */
    restore: (id: string, body: RestoreRequest = {}) => this.#send<{ job: Job }>('POST', `/backups/${seg(id)}/restore`, body),
    /** 202 with the `backup.export` job; when it succeeded, `jobs.artifact(job.id)` is the .tar.gz (24 h). */
    download: (id: string) => this.#send<{ job: Job }>('POST', `/backups/${seg(id)}/download`, {}),
  };

  /**
   * File manager of an environment's wp-content and its read-only database browser
   * (spec/api/files.ts). Paths are relative to wp-content ('' = its root); files up to 5 MiB.
   * Each call is answered by the environment's app server (504 TRIPLANE_ERR_TIMEOUT if it can't).
   */
  readonly files = {
    list: (environmentId: string, path = '') => this.#get<FileListing>(`/environments/${seg(environmentId)}/files`, { path }),
    /** The file's bytes. */
    read: async (environmentId: string, path: string): Promise<Uint8Array> => {
      const res = await this.http.raw('GET', `/environments/${seg(environmentId)}/files/content`, { query: { path } });
      if (!res.ok) {
        const text = await res.text().catch(() => '');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        throw errorFromBody(res.status, parsed, text.slice(0, 200));
      }
      return new Uint8Array(await res.arrayBuffer());
    },
    /** Create or replace a file (a string is written as UTF-8). */
    write: (environmentId: string, path: string, content: Uint8Array | string, o: { createOnly?: boolean } = {}) =>
      this.http.request<FileEntry>('PUT', `/environments/${seg(environmentId)}/files/content`, {
        query: { path, createOnly: o.createOnly || undefined },
        body: typeof content === 'string' ? { text: content } : { base64: toBase64(content) },
      }),
    /** A file, a symlink (not its target), or a directory (non-empty: `recursive`). */
    remove: (environmentId: string, path: string, o: { recursive?: boolean } = {}) =>
      this.http.request<FileDeleteResponse>('DELETE', `/environments/${seg(environmentId)}/files`, {
        query: { path, recursive: o.recursive || undefined },
      }),
    mkdir: (environmentId: string, path: string) =>
      this.#send<FileEntry>('POST', `/environments/${seg(environmentId)}/files/mkdir`, { path }),
  };

  readonly db = {
    tables: (environmentId: string) => this.#get<DbTableList>(`/environments/${seg(environmentId)}/db/tables`),
    /** A page of rows (limit ≤ 200); values cut to 1 KB, secrets masked. */
    rows: (environmentId: string, table: string, q: { offset?: number; limit?: number } = {}) =>
      this.#get<DbRowsPage>(`/environments/${seg(environmentId)}/db/tables/${seg(table)}/rows`, { ...q }),
  };

  readonly domains = {
    list: (environmentId: string, q: ListParams = {}) =>
      this.#list<Domain>(`/environments/${seg(environmentId)}/domains`, { ...q }),
    add: (environmentId: string, body: CreateDomainRequest) =>
      this.#send<Domain>('POST', `/environments/${seg(environmentId)}/domains`, body),
    get: (id: string) => this.#get<Domain>(`/domains/${seg(id)}`),
    update: (id: string, body: UpdateDomainRequest) => this.#send<Domain>('PATCH', `/domains/${seg(id)}`, body),
    remove: (id: string) => this.#send<void>('DELETE', `/domains/${seg(id)}`),
  };

  readonly jobs = {
    list: (q: ListParams & { orgId?: string; siteId?: string; state?: JobState; kind?: string } = {}) =>
      this.#list<Job>('/jobs', { ...q }),
    get: (id: string) => this.#get<Job>(`/jobs/${seg(id)}`),
    /** Log lines after `after` (a seq); pass the answer's `last` to continue. */
    logs: (id: string, q: { after?: number; limit?: number } = {}) => this.#get<JobLogList>(`/jobs/${seg(id)}/logs`, { ...q }),
    cancel: (id: string) => this.#send<Job>('POST', `/jobs/${seg(id)}/cancel`),
    retry: (id: string) => this.#send<Job>('POST', `/jobs/${seg(id)}/retry`),
    /** The archive a job made (backup.export), as the raw response to stream (no timeout: it can be large). */
    artifact: async (id: string, o: { signal?: AbortSignal } = {}): Promise<Response> => {
      const res = await this.http.raw('GET', `/jobs/${seg(id)}/artifact`, {
        headers: { accept: 'application/gzip, application/json' },
        timeout: false,
        ...(o.signal ? { signal: o.signal } : {}),
      });
      if (res.ok) return res;
      const text = await res.text().catch(() => '');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      throw errorFromBody(res.status, parsed, text.slice(0, 200));
    },
  };

  readonly audit = {
    /** Newest first. */
    list: (q: AuditQuery = {}) => this.#list<AuditEntry>('/audit', { ...q }),
  };

  /**
   * Follow a job's event stream (SSE, reconnecting with backoff, polling as a fallback).
   * `onEvent` gets every event with the latest job snapshot; `done` resolves with the final job.
   */
  watchJob(id: string, onEvent: (e: JobEvent) => void, o: Omit<WatchOptions, 'signal'> = {}): Watch {
    const ctl = new AbortController();
    const done = followJob(this.http, id, onEvent, { ...o, signal: ctl.signal });
    return { done, close: () => ctl.abort(new DOMException('watch closed', 'AbortError')) };
  }

  /** Resolve with the job once it is succeeded, failed or cancelled. */
  waitForJob(id: string, o: WaitOptions = {}): Promise<Job> {
    return waitForJob(this.http, id, o);
  }
}
