import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { TriplaneError } from '@triplane/kernel';
import { Id, isTerminalJobState, Job, JobList, JobLogList, JobState, type Role } from '@triplane/spec';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { audit } from '../../../audit/audit.ts';
import { toJobDto, toJobLogDto } from '../../../jobs/dto.ts';
import { enqueueJob, type JobRow } from '../../../jobs/enqueue.ts';
import { HANDLERS } from '../../../jobs/handlers/index.ts';
import { appendJobLog, cancelJob, JobQueue, retryJob } from '../../../jobs/queue.ts';
import { atLeast, effectiveRole, requireSuperuser, requireUser, visibility } from '../../auth/authorize.ts';
import { errorResponses } from '../../errors.ts';

/**
 * Platform job kinds a platform administrator may start by hand with POST /jobs. Each must
 * be harmless to run at any time.
 */
export const OPERATOR_JOB_KINDS = ['store.integrity-check'] as const;

/** SSE: how often the stream reads the store, and how often it sends a heartbeat comment. */
const EVENTS_POLL_MS = 250;
const HEARTBEAT_MS = 15_000;
/**
 * A stream lives at most maxWatchMs × this (default 30 s × 10 = 5 min), then closes; clients
 * reconnect (EventSource does it by itself, resuming after the last log line it saw).
 */
const STREAM_WATCH_FACTOR = 10;
const RECONNECT_MS = 1000;

const IdParams = Type.Object({ id: Id }, { additionalProperties: false });

const ListQuery = Type.Object(
  {
    orgId: Type.Optional(Id),
    siteId: Type.Optional(Id),
    state: Type.Optional(JobState),
    kind: Type.Optional(Type.String({ maxLength: 100 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    cursor: Type.Optional(Id),
  },
  { additionalProperties: false },
);

const LogsQuery = Type.Object(
  {
    after: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 500 })),
  },
  { additionalProperties: false },
);

const EventsQuery = Type.Object(
  {
    after: Type.Optional(
      Type.Integer({ minimum: 0, description: 'send log lines after this seq (default: Last-Event-ID, else 0)' }),
    ),
  },
  { additionalProperties: false },
);

const CreateBody = Type.Object(
  {
    kind: Type.Union(OPERATOR_JOB_KINDS.map((k) => Type.Literal(k))),
    idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false },
);

/**
 * The caller's role on a job: org/site jobs follow the org/site grants (a site-scoped
 * member sees that site's jobs; org-level jobs need an org-wide grant); platform jobs
 * (no organization) are for platform administrators only.
 */
async function roleOnJob(req: FastifyRequest, job: JobRow): Promise<Role | undefined> {
  const u = requireUser(req);
  if (u.isSuperuser) return 'owner';
  let orgId = job.org_id;
  if (orgId === null && job.site_id !== null) {
    const site = await req.server.ctx.store.db
      .selectFrom('sites')
      .select('org_id')
      .where('id', '=', job.site_id)
      .executeTakeFirst();
    orgId = site?.org_id ?? null;
  }
  if (orgId === null) return undefined;
  return effectiveRole(req, orgId, job.site_id ?? undefined);
}

/** Load a job the caller may see with at least `min`: 404 when invisible, 403 when the role is too low. */
async function requireJob(req: FastifyRequest, id: string, min: Role): Promise<JobRow> {
  const job = await req.server.ctx.store.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  if (!job) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'job not found');
  const role = await roleOnJob(req, job);
  if (!role) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'job not found');
  if (!atLeast(role, min)) throw new TriplaneError('TRIPLANE_ERR_FORBIDDEN', `requires the ${min} role; you are ${role}`);
  return job;
}

function actorName(req: FastifyRequest): string {
  const p = req.principal;
  return p.kind === 'user' ? p.email : p.kind;
}

/** /api/v1 routes for jobs. */
export default async function jobsRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { store } = app.ctx;
  const queue = () => new JobQueue(store, { clock: app.ctx.clock });
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of streams) end();
  });

  app.get(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'List jobs visible to the caller, newest first',
        querystring: ListQuery,
        response: { 200: JobList, ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => {
      requireUser(req);
      const vis = await visibility(req);
      const limit = req.query.limit ?? 100;
      let q = store.db.selectFrom('jobs').selectAll();
      if (!vis.all) {
        if (vis.orgIds.length === 0 && vis.siteIds.length === 0) return { items: [], nextCursor: null };
        q = q.where((eb) => {
          const ors = [];
          if (vis.orgIds.length) ors.push(eb('org_id', 'in', vis.orgIds));
          if (vis.siteIds.length) ors.push(eb('site_id', 'in', vis.siteIds));
          return eb.or(ors);
        });
      }
      if (req.query.orgId) q = q.where('org_id', '=', req.query.orgId);
      if (req.query.siteId) q = q.where('site_id', '=', req.query.siteId);
      if (req.query.state) q = q.where('state', '=', req.query.state);
      if (req.query.kind) q = q.where('kind', '=', req.query.kind);
      if (req.query.cursor) q = q.where('id', '<', req.query.cursor);
      const rows = await q
        .orderBy('id', 'desc')
        .limit(limit + 1)
        .execute();
      const page = rows.slice(0, limit);
      return { items: page.map(toJobDto), nextCursor: rows.length > limit ? (page.at(-1)?.id ?? null) : null };
    },
  );

  app.post(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Start a platform job (platform administrators only)',
        body: CreateBody,
        response: { 202: Job, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (req, reply) => {
      const u = requireSuperuser(req);
      const handler = HANDLERS.find((h) => h.kind === req.body.kind);
      if (!handler) throw new TriplaneError('TRIPLANE_ERR_UNPROCESSABLE', `no worker can run ${req.body.kind}`);
      const { job } = await store.transaction(async (trx) => {
        const r = await enqueueJob(trx, {
          kind: handler.kind,
          lane: handler.lane ?? 'low',
          maxAttempts: handler.maxAttempts ?? 3,
          idempotencyKey: req.body.idempotencyKey ?? null,
          createdBy: u.userId,
          clock: app.ctx.clock,
        });
        if (r.created) {
          await audit(trx, req, {
            action: 'job.create',
            orgId: null,
            targetType: 'job',
            targetId: r.job.id,
            details: { kind: handler.kind },
          });
        }
        return r;
      });
      return reply.code(202).send(toJobDto(job));
    },
  );

  app.get(
    '/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        summary: 'A job: state, progress, result or error',
        params: IdParams,
        response: { 200: Job, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => toJobDto(await requireJob(req, req.params.id, 'viewer')),
  );

  app.get(
    '/jobs/:id/logs',
    {
      schema: {
        tags: ['jobs'],
        summary: "A job's log lines after a sequence number",
        params: IdParams,
        querystring: LogsQuery,
        response: { 200: JobLogList, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      await requireJob(req, req.params.id, 'viewer');
      const after = req.query.after ?? 0;
      const rows = await queue().logs(req.params.id, after, req.query.limit ?? 500);
      const items = rows.map(toJobLogDto);
      return { items, last: items.at(-1)?.seq ?? after };
    },
  );

  app.get(
    '/jobs/:id/events',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Server-sent events: progress, log lines, and end when the job is finished',
        description:
          'text/event-stream. `event: progress` (Job JSON) whenever state/progress/message change, `event: log` (JobLog JSON, `id:` = its seq) per new log line, `event: end` (Job JSON) when the job is finished; then the stream closes. Comment lines are heartbeats. A stream open for longer than 10 × the watch limit closes without `end`: reconnect with `after` (or Last-Event-ID).',
        params: IdParams,
        querystring: EventsQuery,
        produces: ['text/event-stream'],
        response: { 200: { description: 'an event stream', type: 'string' }, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      await requireJob(req, req.params.id, 'viewer');
      const id = req.params.id;
      // EventSource reconnects send the id of the last event seen (log events carry their seq).
      const lastEventId = Number(req.headers['last-event-id']);
      const resumeAfter = req.query.after ?? (Number.isInteger(lastEventId) && lastEventId > 0 ? lastEventId : 0);
      const maxStreamMs = app.ctx.options.maxWatchMs * STREAM_WATCH_FACTOR;
      const q = queue();
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'x-accel-buffering': 'no',
        'x-request-id': req.id,
        connection: 'keep-alive',
      });
      raw.write(`: job events\nretry: ${RECONNECT_MS}\n\n`);
      let open = true;
      let wake: (() => void) | undefined;
      const end = () => {
        open = false;
        wake?.();
      };
      streams.add(end);
      raw.on('close', end);
      const send = (event: string, data: unknown, eventId?: number) => {
        if (!open) return;
        raw.write(`${eventId === undefined ? '' : `id: ${eventId}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      };
      let lastKey = '';
      let lastSeq = resumeAfter;
      let lastBeat = Date.now();
      const closeAt = Date.now() + maxStreamMs;
      try {
        while (open && Date.now() < closeAt) {
          const row = await q.get(id);
          if (!row) break;
          // Read the job first, then its logs: every line written before a terminal state is seen.
          const logs = await q.logs(id, lastSeq, 500);
          for (const l of logs) {
            send('log', toJobLogDto(l), Number(l.seq));
            lastSeq = Number(l.seq);
          }
          if (logs.length === 500) continue;
          const key = `${row.state}|${row.progress}|${row.message}|${row.attempts}|${row.cancel_requested}`;
          if (key !== lastKey) {
            send('progress', toJobDto(row));
            lastKey = key;
          }
          if (isTerminalJobState(row.state)) {
            send('end', toJobDto(row));
            break;
          }
          if (Date.now() - lastBeat >= HEARTBEAT_MS) {
            if (open) raw.write(': heartbeat\n\n');
            lastBeat = Date.now();
          }
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, EVENTS_POLL_MS);
            wake = () => {
              clearTimeout(t);
              resolve();
            };
          });
          wake = undefined;
        }
      } catch (e) {
        req.log.warn({ err: e, job: id }, 'job event stream failed');
      } finally {
        streams.delete(end);
        open = false;
        if (!raw.writableEnded) raw.end();
      }
    },
  );

  app.post(
    '/jobs/:id/cancel',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Cancel a job: queued → cancelled at once; running → its worker stops it (cancelRequested)',
        params: IdParams,
        response: { 200: Job, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req) => {
      const job = await requireJob(req, req.params.id, 'developer');
      const row = await store.transaction(async (trx) => {
        const r = await cancelJob(trx, job.id, app.ctx.clock);
        await appendJobLog(trx, job.id, 'warn', `cancel requested by ${actorName(req)}`, app.ctx.clock);
        await audit(trx, req, {
          action: 'job.cancel',
          orgId: job.org_id,
          targetType: 'job',
          targetId: job.id,
          details: { kind: job.kind, state: job.state },
        });
        return r;
      });
      return toJobDto(row);
    },
  );

  app.post(
    '/jobs/:id/retry',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Queue a failed or cancelled job again, with a new attempt budget',
        params: IdParams,
        response: { 202: Job, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req, reply) => {
      const job = await requireJob(req, req.params.id, 'developer');
      const row = await store.transaction(async (trx) => {
        const r = await retryJob(trx, job.id, app.ctx.clock);
        await appendJobLog(trx, job.id, 'info', `retry requested by ${actorName(req)}`, app.ctx.clock);
        await audit(trx, req, {
          action: 'job.retry',
          orgId: job.org_id,
          targetType: 'job',
          targetId: job.id,
          details: { kind: job.kind, previousState: job.state },
        });
        return r;
      });
      return reply.code(202).send(toJobDto(row));
    },
  );
}
