import { type Clock, silentLogger, systemClock } from '@triplane/kernel';
import { type JobContext, JobDeferred, type JobHandler } from '../jobs/handler.ts';
import type { Harness } from '../testing/harness.ts';

/**
 * Helpers for this area's tests: run a job handler directly (the queue and workers are tested
 * on their own) and bring servers up through the real API.
 */

export async function runHandler<P>(
  h: Harness,
  handler: JobHandler<P>,
  jobId: string,
  o: { clock?: Clock; params?: Partial<P>; signal?: AbortSignal } = {},
): Promise<unknown> {
  const job = await h.store.db.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirstOrThrow();
  const logs: string[] = [];
  const ctx: JobContext<P> = {
    job,
    params: { ...(JSON.parse(job.params) as P), ...(o.params ?? {}) },
    store: h.store,
    clock: o.clock ?? systemClock,
    logger: silentLogger(),
    signal: o.signal ?? new AbortController().signal,
    progress: async () => {},
    log: async (_level, message) => {
      logs.push(message);
    },
  };
  // Like the queue: a handler that defers (JobDeferred) runs again after its delay (capped at
  // 20 ms here), until it returns or throws something else.
  for (;;) {
    try {
      return await handler.run(ctx);
    } catch (e) {
      if (!(e instanceof JobDeferred)) throw e;
      await new Promise((r) => setTimeout(r, Math.min(20, e.delayMs)));
    }
  }
}

export interface JoinedServer {
  id: string;
  credential: string;
}

/** Create a server as the platform owner and join it as its agent. */
export async function joinServer(h: Harness, name: string, role: 'app' | 'edge', address = '10.0.0.1'): Promise<JoinedServer> {
  const c = await h.call(h.owner.token, 'POST', '/api/v1/servers', { name, role });
  if (c.statusCode !== 201) throw new Error(`create server: ${c.statusCode} ${c.body}`);
  const j = await h.call(null, 'POST', '/api/v1/agents/join', { joinToken: c.json().joinToken, address, agentVersion: '0.1.0' });
  if (j.statusCode !== 200) throw new Error(`join: ${j.statusCode} ${j.body}`);
  return { id: j.json().serverId, credential: j.json().credential };
}

/** The job of a 202 answer, run to completion with its handler. */
export async function createSite(
  h: Harness,
  token: string,
  body: Record<string, unknown>,
): Promise<{ siteId: string; environmentId: string; jobId: string; body: any }> {
  const r = await h.call(token, 'POST', '/api/v1/sites', { orgId: h.orgId, kind: 'wordpress', plan: 'essentials', ...body });
  if (r.statusCode !== 202) throw new Error(`create site: ${r.statusCode} ${r.body}`);
  const b = r.json();
  return { siteId: b.site.id, environmentId: b.environment.id, jobId: b.job.id, body: b };
}
