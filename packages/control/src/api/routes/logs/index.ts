import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { TriplaneError } from '@triplane/kernel';
import {
  AgentLogBatch,
  EdgeLogBatch,
  Id,
  LogIngestResult,
  LogList,
  LogQuery,
  LogStreamQuery,
  ServerIdParams,
} from '@triplane/spec';
import type { FastifyInstance } from 'fastify';
import { toFilter } from '../../../logs/filter.ts';
import { LogNotifier } from '../../../logs/notifier.ts';
import { EnvironmentLogs } from '../../../logs/store.ts';
import { requireServer } from '../../auth/authorize.ts';
import { errorResponses } from '../../errors.ts';
import { requireEnvironmentRole } from '../sites/access.ts';
import { streamLogs } from './stream.ts';

const EnvParams = Type.Object({ id: Id }, { additionalProperties: false });

/**
 * Environment logs (docs/logs.md):
 *
 *   POST /edge/logs                       edge servers: access and error lines, batched (2 s or 500 lines)
 *   POST /agents/{id}/logs                app servers (only for themselves): their site pods' nginx and
 *                                         php-fpm error lines, only for environments placed on them
 *   GET  /environments/{id}/logs          viewers and up on the site: search the last 24 h, newest first
 *   GET  /environments/{id}/logs/stream   viewers and up: server-sent events, new lines as they arrive
 *
 * The ingest publishes what it stored to this process's open streams (LogNotifier); streams also poll
 * the table, so with several control-plane replicas a line posted to one reaches streams on the others
 * within about a second. Ingest is telemetry: not in the audit log; lines of unknown environments are
 * `ignored` (an edge may still serve a deleted one).
 */
export default async function logsRoutes(base: FastifyInstance): Promise<void> {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { store, clock } = app.ctx;
  const logs = new EnvironmentLogs(store, clock);
  const notifier = new LogNotifier();
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of streams) end();
  });

  app.post(
    '/edge/logs',
    {
      schema: {
        tags: ['edge'],
        summary: 'Report access and error lines of environments (edge servers)',
        body: EdgeLogBatch,
        response: { 202: LogIngestResult, ...errorResponses(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const server = requireServer(req, 'edge');
      const { lines, ...result } = await logs.ingest(req.body);
      notifier.publish(lines);
      if (req.body.dropped) req.log.warn({ server: server.serverId, dropped: req.body.dropped }, 'an edge dropped log lines');
      return reply.code(202).send(result);
    },
  );

  app.post(
    '/agents/:serverId/logs',
    {
      schema: {
        tags: ['agents'],
        summary: "Report the error lines of the environments' nginx and php-fpm (app servers)",
        params: ServerIdParams,
        body: AgentLogBatch,
        response: { 202: LogIngestResult, ...errorResponses(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const server = requireServer(req, 'app');
      if (server.serverId !== req.params.serverId)
        throw new TriplaneError('TRIPLANE_ERR_FORBIDDEN', 'a server may only act for itself');
      const { lines, ...result } = await logs.ingestSite(server.serverId, req.body);
      notifier.publish(lines);
      if (req.body.dropped) req.log.warn({ server: server.serverId, dropped: req.body.dropped }, 'an agent dropped log lines');
      return reply.code(202).send(result);
    },
  );

  app.get(
    '/environments/:id/logs',
    {
      schema: {
        tags: ['environments'],
        summary: "Search the environment's access and error lines (edge, nginx, php) of the last 24 h, newest first",
        params: EnvParams,
        querystring: LogQuery,
        response: { 200: LogList, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const { env } = await requireEnvironmentRole(req, req.params.id, 'viewer');
      const f = toFilter(req.query, clock.now());
      return logs.search(env.id, f, req.query.limit ?? 100, req.query.cursor);
    },
  );

  app.get(
    '/environments/:id/logs/stream',
    {
      schema: {
        tags: ['environments'],
        summary: "Server-sent events: the environment's new access and error lines as they arrive",
        description:
          'text/event-stream. `event: line` (LogLine JSON, `id:` = its id) per new line matching the filters; `event: dropped` ({count}) when this connection fell behind and lines were skipped. Comment lines are heartbeats. Reconnect with Last-Event-ID (or ?after=) to resume after the last line seen; a stream closes after 10 × the watch limit.',
        params: EnvParams,
        querystring: LogStreamQuery,
        produces: ['text/event-stream'],
        response: { 200: { description: 'an event stream', type: 'string' }, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      const { env } = await requireEnvironmentRole(req, req.params.id, 'viewer');
      const f = toFilter(req.query, clock.now());
      await streamLogs(req, reply, {
        environmentId: env.id,
        filter: f,
        after: req.query.after,
        logs,
        notifier,
        streams,
        maxStreamMs: app.ctx.options.maxWatchMs * 10,
      });
    },
  );
}
