import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PurgeCommand } from '@triplane/cache';
import { backoffDelay, type Logger, silentLogger, TriplaneError, writeFileAtomic } from '@triplane/kernel';
import type { EdgeSnapshot } from '@triplane/spec';
import type { EdgeConfigInput } from './config.ts';
import { planPurges } from './purge.ts';
import { configFromSnapshot, type SnapshotListen } from './snapshot.ts';

/**
 * The edge's link to the control plane — never on the request path.
 *
 *   join       once: POST /api/v1/agents/join {joinToken} → {serverId, credential}, kept in
 *              STATE/identity.json (0600); later starts reuse it (the token is single-use).
 *   watch      GET /api/v1/edge/snapshot?wait=N with If-None-Match: 304 = unchanged; 200 = a new
 *              snapshot → translated (configFromSnapshot) → handed to `apply` (the edge's reload,
 *              which validates and swaps atomically or throws). Only a snapshot the edge ACCEPTED
 *              is persisted to STATE/snapshot.json, so a restart serves the last good config even
 *              while the control plane is down.
 *   heartbeat  POST /api/v1/agents/{id}/heartbeat every heartbeatMs, so the platform shows the edge online.
 *   purges     each snapshot's `purges` above the last applied seq go to `purge` (./purge.ts
 *              planPurges), also when its config is rejected. The starting point is the persisted
 *              snapshot's `purgeSeq` (purges since then may have hit what this edge cached while it
 *              served from disk), else the first snapshot's (a fresh edge has nothing cached).
 * Errors back off (1 s … 30 s) and retry forever; the running config keeps serving meanwhile.
 *
 * Example:
 *   const link = new EdgeControlLink({ apiUrl, stateDir, joinToken, base: { listen: { http: '0.0.0.0:80' } } });
 *   const edge = await startEdge({ config: (await link.loadPersisted()) ?? { listen, sites: [] } });
 *   await link.connect();
 *   link.run((cfg) => edge.reload(cfg), (site, commands) => edge.purge(site, commands));
 */
export interface EdgeLinkOptions {
  apiUrl: string;
  stateDir: string;
  joinToken?: string | undefined;
  base: SnapshotListen;
  logger?: Logger;
  /** Long-poll hold, seconds (the API caps it). */
  watchWaitS?: number;
  heartbeatMs?: number;
}

/** Runs purge commands on one site's cache; returns the objects removed (undefined: no such site). */
export type PurgeSink = (siteName: string, commands: PurgeCommand[]) => number | undefined;

interface Identity {
  serverId: string;
  credential: string;
}

interface Persisted {
  etag: string | null;
  snapshot: EdgeSnapshot;
}

export class EdgeControlLink {
  readonly #o: EdgeLinkOptions;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  #identity: Identity | undefined;
  #etag: string | null = null;
  #loops: Promise<void>[] = [];
  /** Revision of the snapshot in use, for status and tests. */
  revision: number | undefined;
  /** Seq of the last control-plane purge applied (or skipped as older than this edge's cache). */
  purgeSeq: number | undefined;

  constructor(o: EdgeLinkOptions) {
    this.#o = o;
    this.#log = o.logger ?? silentLogger();
  }

  get serverId(): string | undefined {
    return this.#identity?.serverId;
  }

  #file(name: string): string {
    return join(this.#o.stateDir, name);
  }

  /** The last snapshot this edge accepted, as edge config; undefined when there is none (or it is unreadable). */
  async loadPersisted(): Promise<EdgeConfigInput | undefined> {
    const p = await readJson<Persisted>(this.#file('snapshot.json'));
    if (!p?.snapshot) return undefined;
    this.#etag = p.etag;
    this.revision = p.snapshot.revision;
    this.purgeSeq = p.snapshot.purgeSeq;
    return configFromSnapshot(p.snapshot, this.#o.base);
  }

  /** Load the saved identity, or join with the token (retrying while the control plane is unreachable). */
  async connect(): Promise<void> {
    this.#identity = await readJson<Identity>(this.#file('identity.json'));
    if (this.#identity) return;
    if (!this.#o.joinToken) {
      throw new TriplaneError(
        'TRIPLANE_ERR_CONFIG',
        'this edge has not joined yet: pass --join-token (from `triplane server create --role edge`)',
      );
    }
    for (let attempt = 1; ; attempt++) {
      if (this.#abort.signal.aborted) throw new TriplaneError('TRIPLANE_ERR_UNAVAILABLE', 'stopped before joining');
      try {
        const res = await this.#call('POST', '/agents/join', { joinToken: this.#o.joinToken });
        if (res.ok) {
          const j = (await res.json()) as { serverId: string; role: string; credential: string };
          if (j.role !== 'edge') {
            throw new TriplaneError('TRIPLANE_ERR_CONFIG', `the join token is for a ${j.role} server, not an edge`);
          }
          this.#identity = { serverId: j.serverId, credential: j.credential };
          await writeFileAtomic(this.#file('identity.json'), JSON.stringify(this.#identity));
          this.#log.info({ serverId: j.serverId }, 'edge joined the control plane');
          return;
        }
        if (res.status === 401 || res.status === 400) {
          throw new TriplaneError('TRIPLANE_ERR_UNAUTHENTICATED', 'the join token was refused (used, expired or wrong)');
        }
        throw new Error(`join answered ${res.status}`);
      } catch (e) {
        if (e instanceof TriplaneError) throw e;
        const delay = backoffDelay(attempt, { baseMs: 1000, capMs: 30_000 });
        this.#log.warn({ err: (e as Error).message, retryInMs: delay }, 'cannot join yet');
        await sleep(delay, this.#abort.signal);
      }
    }
  }

  /**
   * Start the watch and heartbeat loops. `apply` throws when the edge rejects a config; `purge`
   * runs one site's purge commands (the edge's `purge`); without it purges are only tracked.
   */
  run(apply: (config: EdgeConfigInput) => void, purge?: PurgeSink): void {
    if (!this.#identity) throw new TriplaneError('TRIPLANE_ERR_CONFIG', 'connect() first');
    this.#loops.push(this.#watch(apply, purge), this.#heartbeat());
  }

  #applyPurges(snapshot: EdgeSnapshot, purge: PurgeSink | undefined): void {
    const plan = planPurges(snapshot, this.purgeSeq);
    this.purgeSeq = plan.seq;
    if (plan.action === 'baseline' || plan.action === 'none') return;
    if (plan.action === 'flush') {
      this.#log.warn({ purgeSeq: plan.seq }, 'purges were missed while away; dropping every cached site');
    }
    let removed = 0;
    for (const p of plan.purges) {
      try {
        removed += purge?.(p.siteName, p.commands) ?? 0;
      } catch (e) {
        // A purge that fails (a bug) must not stop the others nor the watch loop.
        this.#log.error({ err: (e as Error).message, site: p.siteName, seq: p.seq }, 'purge failed');
      }
    }
    this.#log.info({ purgeSeq: plan.seq, purges: plan.purges.length, removed, action: plan.action }, 'purges applied');
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await Promise.allSettled(this.#loops);
  }

  async #watch(apply: (config: EdgeConfigInput) => void, purge: PurgeSink | undefined): Promise<void> {
    let failures = 0;
    while (!this.#abort.signal.aborted) {
      try {
        const headers: Record<string, string> = {};
        if (this.#etag) headers['if-none-match'] = this.#etag;
        const res = await this.#call('GET', `/edge/snapshot?wait=${this.#o.watchWaitS ?? 30}`, undefined, headers);
        if (res.status === 304) {
          failures = 0;
          continue;
        }
        if (!res.ok) throw new Error(`snapshot answered ${res.status}`);
        const snapshot = (await res.json()) as EdgeSnapshot;
        const etag = res.headers.get('etag');
        try {
          apply(configFromSnapshot(snapshot, this.#o.base));
        } catch (e) {
          // A snapshot the edge can't use must not replace the good one, on disk or in memory.
          this.#log.error(
            { err: (e as Error).message, revision: snapshot.revision },
            'snapshot rejected; keeping the current config',
          );
          this.#etag = etag; // don't spin on the same bad snapshot; the next change is a new ETag
          this.#applyPurges(snapshot, purge);
          failures = 0;
          continue;
        }
        this.#etag = etag;
        this.revision = snapshot.revision;
        this.#applyPurges(snapshot, purge);
        await writeFileAtomic(this.#file('snapshot.json'), JSON.stringify({ etag, snapshot } satisfies Persisted));
        this.#log.info({ revision: snapshot.revision }, 'snapshot applied');
        failures = 0;
      } catch (e) {
        if (this.#abort.signal.aborted) return;
        failures++;
        const delay = backoffDelay(failures, { baseMs: 1000, capMs: 30_000 });
        this.#log.warn({ err: (e as Error).message, retryInMs: delay }, 'control plane unreachable; serving the current config');
        await sleep(delay, this.#abort.signal);
      }
    }
  }

  async #heartbeat(): Promise<void> {
    while (!this.#abort.signal.aborted) {
      try {
        await this.#call('POST', `/agents/${this.#identity?.serverId}/heartbeat`, {});
      } catch {
        // The watch loop reports connectivity; a missed heartbeat only marks the edge offline.
      }
      await sleep(this.#o.heartbeatMs ?? 15_000, this.#abort.signal);
    }
  }

  #call(method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<Response> {
    const headers: Record<string, string> = { ...extra };
    if (this.#identity) headers.authorization = `Bearer ${this.#identity.credential}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    return fetch(`${this.#o.apiUrl.replace(/\/$/, '')}/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
      signal: this.#abort.signal,
    });
  }
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}
