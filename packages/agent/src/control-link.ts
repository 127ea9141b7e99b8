import { Value } from '@sinclair/typebox/value';
import { type BackoffOptions, backoffDelay, type ErrorCode, type Logger, silentLogger, TriplaneError } from '@triplane/kernel';
import { Assignment, type ServerFacts, type StatusReportRequest } from '@triplane/spec';
import type { AgentIdentity, StateDir } from './state-dir.ts';

/**
 * The agent's side of the agent protocol (control's routes/agents):
 *
 *   join       once: POST /agents/join {joinToken} → {serverId, role, credential}; kept in the
 *              state dir (0600). The token is single-use; a restart reuses the credential.
 *   heartbeat  POST /agents/{id}/heartbeat every 10 s (with host facts).
 *   watch      GET /agents/{id}/assignment?wait=30 with If-None-Match: 304 = unchanged, 200 = new
 *              assignment → persisted, then handed to the reconciler. On errors: back off
 *              (1 s … 30 s) and keep the last assignment (the pods keep running, and an agent
 *              restart brings them back from the persisted copy).
 *   status     POST /agents/{id}/status with the COMPLETE list of environments (a missing one =
 *              gone from this server) whenever it changed, and every 30 s anyway.
 *
 * A control plane that is down never stops the agent: every loop retries with backoff. The
 * credential goes only into the Authorization header — never into a log line.
 *
 * Example:
 *   const link = new ControlLink({ apiUrl, stateDir, joinToken, facts: hostFacts });
 *   await link.connect();                        // join or load identity
 *   link.start({ onAssignment: (a) => { reconciler.setDesired(a.environments); runner.wake(); } });
 *   link.setReport(reconciler.report());         // after each pass
 */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface ControlLinkOptions {
  apiUrl: string;
  stateDir: StateDir;
  joinToken?: string | undefined;
  /** Where the edge reaches this server's web ports (sent at join). */
  address?: string | undefined;
  agentVersion?: string;
  facts?: () => ServerFacts | Promise<ServerFacts>;
  fetch?: FetchLike;
  logger?: Logger;
  heartbeatMs?: number;
  /** Long-poll duration asked of the server, seconds. */
  watchWaitS?: number;
  reportRefreshMs?: number;
  backoff?: BackoffOptions;
}

export interface LinkHandlers {
  onAssignment: (a: Assignment) => void;
}

type Report = StatusReportRequest['environments'];

/** Thrown by `connect()` when the join token is refused (terminal: a new token is needed). */
export const JOIN_REFUSED = 'TRIPLANE_ERR_UNAUTHENTICATED';

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function describeError(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ? `${e.message} (${cause.code})` : e.message;
  }
  return String(e);
}

export class ControlLink {
  readonly #o: ControlLinkOptions;
  readonly #fetch: FetchLike;
  readonly #log: Logger;
  readonly #backoff: BackoffOptions;
  #identity: AgentIdentity | undefined;
  #etag: string | null = null;
  #abort = new AbortController();
  #loops: Promise<void>[] = [];
  #report: Report | null = null;
  #sentJson: string | null = null;
  #sentAt = 0;
  #reportWake: (() => void) | undefined;
  /** Counts for tests and diagnostics. */
  readonly stats = { heartbeats: 0, assignments: 0, notModified: 0, reports: 0, errors: 0 };

  constructor(o: ControlLinkOptions) {
    this.#o = o;
    this.#fetch = o.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#log = o.logger ?? silentLogger();
    this.#backoff = o.backoff ?? { baseMs: 1000, capMs: 30_000 };
  }

  get serverId(): string | undefined {
    return this.#identity?.serverId;
  }

  /** For a job child that uploads an artifact itself (jobs/runner.ts ChildInput.control); never logged. */
  childAccess(): { apiUrl: string; credential: string } | undefined {
    return this.#identity ? { apiUrl: this.#o.apiUrl, credential: this.#identity.credential } : undefined;
  }

  #url(path: string): string {
    return `${this.#o.apiUrl.replace(/\/+$/, '')}/api/v1${path}`;
  }

  async #call(
    method: string,
    path: string,
    body: unknown,
    o: { timeoutMs?: number; headers?: Record<string, string>; signal?: AbortSignal } = {},
  ) {
    const headers: Record<string, string> = { accept: 'application/json', ...(o.headers ?? {}) };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.#identity) headers.authorization = `Bearer ${this.#identity.credential}`;
    const signal = AbortSignal.any([
      this.#abort.signal,
      AbortSignal.timeout(o.timeoutMs ?? 15_000),
      ...(o.signal ? [o.signal] : []),
    ]);
    const init: RequestInit = { method, headers, signal };
    if (body !== undefined) init.body = JSON.stringify(body);
    return this.#fetch(this.#url(path), init);
  }

  /**
   * An authenticated JSON call for the agent's other loops (the job runner): the body of a 2xx
   * answer, or a TriplaneError with the API's code. `timeoutMs` default 15 s.
   */
  async call<T>(method: string, path: string, body?: unknown, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    const res = await this.#call(method, path, body, o);
    if (!res.ok) throw await this.#errorOf(res, `${method} ${path.split('?')[0]}`);
    return (await res.json()) as T;
  }

  async #errorOf(res: Response, what: string): Promise<TriplaneError> {
    let code: ErrorCode = 'TRIPLANE_ERR_UNAVAILABLE';
    let message = `${what}: HTTP ${res.status}`;
    try {
      const b = (await res.json()) as { error?: { code?: string; message?: string } };
      if (b.error?.code?.startsWith('TRIPLANE_ERR_')) code = b.error.code as ErrorCode;
      if (b.error?.message) message = `${what}: ${b.error.message} (HTTP ${res.status})`;
    } catch {
      // not JSON
    }
    return new TriplaneError(code, message, { status: res.status });
  }

  /**
   * Load the identity from the state dir, or join with the token (retrying while the control
   * plane is unreachable). A refused token throws TRIPLANE_ERR_UNAUTHENTICATED.
   */
  async connect(): Promise<AgentIdentity> {
    await this.#o.stateDir.init();
    const saved = await this.#o.stateDir.loadIdentity();
    const stored = await this.#o.stateDir.loadAssignment();
    this.#etag = stored?.etag ?? null;
    if (saved) {
      this.#identity = saved;
      if (saved.apiUrl !== this.#o.apiUrl) {
        this.#identity = { ...saved, apiUrl: this.#o.apiUrl };
        await this.#o.stateDir.saveIdentity(this.#identity);
      }
      this.#log.info({ serverId: saved.serverId }, 'using the saved agent identity');
      return this.#identity;
    }
    if (!this.#o.joinToken) {
      throw new TriplaneError(
        'TRIPLANE_ERR_CONFIG',
        'this agent has not joined yet: pass --join-token (from `triplane server create`)',
      );
    }
    for (let attempt = 1; ; attempt++) {
      if (this.#abort.signal.aborted) throw new TriplaneError('TRIPLANE_ERR_UNAVAILABLE', 'stopped before joining');
      try {
        const facts = this.#o.facts ? await this.#o.facts() : undefined;
        const body: Record<string, unknown> = { joinToken: this.#o.joinToken };
        if (this.#o.address) body.address = this.#o.address;
        if (this.#o.agentVersion) body.agentVersion = this.#o.agentVersion;
        if (facts) body.facts = facts;
        const res = await this.#call('POST', '/agents/join', body);
        if (res.status === 200) {
          const j = (await res.json()) as { serverId: string; role: 'app' | 'edge'; credential: string };
          const identity: AgentIdentity = {
            apiUrl: this.#o.apiUrl,
            serverId: j.serverId,
            role: j.role,
            credential: j.credential,
          };
          await this.#o.stateDir.saveIdentity(identity);
          this.#identity = identity;
          this.#log.info({ serverId: j.serverId, role: j.role }, 'joined the control plane');
          return identity;
        }
        const err = await this.#errorOf(res, 'join');
        if (res.status >= 400 && res.status < 500) throw err; // refused token, bad request: terminal
        throw Object.assign(err, { retry: true });
      } catch (e) {
        const retry = !(e instanceof TriplaneError) || (e as { retry?: boolean }).retry === true;
        if (!retry) throw e;
        const delay = backoffDelay(attempt, this.#backoff);
        this.#log.warn({ err: describeError(e), retryInMs: delay }, 'cannot join yet');
        await sleep(delay, this.#abort.signal);
      }
    }
  }

  /** Start the heartbeat, assignment watch and status loops. */
  start(h: LinkHandlers): void {
    if (!this.#identity) throw new TriplaneError('TRIPLANE_ERR_INTERNAL', 'connect() first');
    this.#loops = [this.#heartbeatLoop(), this.#watchLoop(h), this.#reportLoop()];
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    this.#reportWake?.();
    await Promise.allSettled(this.#loops);
  }

  /** The latest complete status list; sent when it differs from the last one sent. */
  setReport(r: Report | null): void {
    if (r === null) return;
    this.#report = r;
    if (JSON.stringify(r) !== this.#sentJson) this.#reportWake?.();
  }

  async #heartbeatLoop(): Promise<void> {
    const every = this.#o.heartbeatMs ?? 10_000;
    let failures = 0;
    while (!this.#abort.signal.aborted) {
      try {
        const body: Record<string, unknown> = {};
        if (this.#o.agentVersion) body.agentVersion = this.#o.agentVersion;
        if (this.#o.facts) body.facts = await this.#o.facts();
        const res = await this.#call('POST', `/agents/${encodeURIComponent(this.#identity?.serverId ?? '')}/heartbeat`, body);
        if (res.status !== 200) throw await this.#errorOf(res, 'heartbeat');
        await res.body?.cancel();
        this.stats.heartbeats++;
        if (failures > 0) this.#log.info('heartbeat: the control plane answers again');
        failures = 0;
        await sleep(every, this.#abort.signal);
      } catch (e) {
        if (this.#abort.signal.aborted) return;
        failures++;
        this.stats.errors++;
        if (failures === 1 || failures % 30 === 0) this.#log.warn({ err: describeError(e), failures }, 'heartbeat failed');
        await sleep(Math.min(every, backoffDelay(failures, this.#backoff)), this.#abort.signal);
      }
    }
  }

  async #watchLoop(h: LinkHandlers): Promise<void> {
    const wait = this.#o.watchWaitS ?? 30;
    let failures = 0;
    while (!this.#abort.signal.aborted) {
      try {
        const headers: Record<string, string> = {};
        if (this.#etag) headers['if-none-match'] = this.#etag;
        const res = await this.#call(
          'GET',
          `/agents/${encodeURIComponent(this.#identity?.serverId ?? '')}/assignment?wait=${wait}`,
          undefined,
          { timeoutMs: (wait + 15) * 1000, headers },
        );
        if (res.status === 304) {
          await res.body?.cancel();
          this.stats.notModified++;
          failures = 0;
          continue;
        }
        if (res.status !== 200) throw await this.#errorOf(res, 'assignment');
        const body = (await res.json()) as unknown;
        if (!Value.Check(Assignment, body)) {
          throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'the control plane sent an assignment this agent cannot read');
        }
        const etag = res.headers.get('etag');
        // Persist first: what the pods are reconciled toward must survive a restart.
        await this.#o.stateDir.saveAssignment({ etag, assignment: body });
        this.#etag = etag;
        this.stats.assignments++;
        failures = 0;
        this.#log.info({ revision: body.revision, environments: body.environments.length }, 'new assignment');
        h.onAssignment(body);
      } catch (e) {
        if (this.#abort.signal.aborted) return;
        failures++;
        this.stats.errors++;
        const delay = backoffDelay(failures, this.#backoff);
        if (failures === 1 || failures % 20 === 0)
          this.#log.warn({ err: describeError(e), failures, retryInMs: delay }, 'assignment watch failed; keeping the last one');
        await sleep(delay, this.#abort.signal);
      }
    }
  }

  async #reportLoop(): Promise<void> {
    const refresh = this.#o.reportRefreshMs ?? 30_000;
    let failures = 0;
    while (!this.#abort.signal.aborted) {
      const report = this.#report;
      const json = report ? JSON.stringify(report) : null;
      const due = json !== null && (json !== this.#sentJson || Date.now() - this.#sentAt >= refresh);
      let delay = refresh;
      if (due && report) {
        try {
          const res = await this.#call('POST', `/agents/${encodeURIComponent(this.#identity?.serverId ?? '')}/status`, {
            environments: report,
          });
          if (res.status !== 200) throw await this.#errorOf(res, 'status report');
          const r = (await res.json()) as { ignored?: string[] };
          this.#sentJson = json;
          this.#sentAt = Date.now();
          this.stats.reports++;
          failures = 0;
          if (r.ignored?.length) this.#log.debug({ ignored: r.ignored }, 'status ignored for environments not placed here');
          continue;
        } catch (e) {
          if (this.#abort.signal.aborted) return;
          failures++;
          this.stats.errors++;
          delay = backoffDelay(failures, this.#backoff);
          if (failures === 1 || failures % 20 === 0)
            this.#log.warn({ err: describeError(e), retryInMs: delay }, 'status report failed');
        }
      }
      // Sleep until the refresh is due or a changed report arrives (after a failure: the backoff).
      const ms = json === null ? refresh : failures > 0 ? delay : refresh - (Date.now() - this.#sentAt);
      await new Promise<void>((resolve) => {
        const signal = this.#abort.signal;
        const t = setTimeout(done, Math.max(10, ms));
        const self = this;
        function done() {
          clearTimeout(t);
          signal.removeEventListener('abort', done);
          self.#reportWake = undefined;
          resolve();
        }
        this.#reportWake = done;
        signal.addEventListener('abort', done, { once: true });
        if (signal.aborted) done();
      });
    }
  }
}
