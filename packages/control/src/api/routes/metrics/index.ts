import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { TriplaneError } from '@triplane/kernel';
import {
  AgentMetricsReport,
  EdgeMetricsReport,
  EnvironmentMetrics,
  Id,
  MetricsIngestResult,
  MetricsQuery,
  ServerIdParams,
} from '@triplane/spec';
import type { FastifyInstance } from 'fastify';
import { MetricsRollup } from '../../../metrics/rollup.ts';
import { environmentSeries, parseSeries } from '../../../metrics/series.ts';
import { requireServer } from '../../auth/authorize.ts';
import { errorResponses } from '../../errors.ts';
import { requireEnvironmentRole } from '../sites/access.ts';

const EnvParams = Type.Object({ id: Id }, { additionalProperties: false });

/**
 * The metrics pipeline's API (docs/metrics.md):
 *
 *   POST /edge/metrics                  edge servers: per-environment traffic deltas, every 10 s
 *   POST /agents/{id}/metrics           app servers (only for themselves): CPU/memory per container
 *   GET  /environments/{id}/metrics     viewers and up on the site: aligned series for a chart
 *
 * Ingestion is telemetry, like heartbeats: not in the audit log. Entries of environments that don't
 * exist (any more) are counted as `ignored`, not refused — a sender may still run a deleted one.
 */
export default async function metricsRoutes(base: FastifyInstance): Promise<void> {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { store, clock } = app.ctx;
  const rollup = new MetricsRollup(store, clock);

  app.post(
    '/edge/metrics',
    {
      schema: {
        tags: ['edge'],
        summary: 'Report per-environment traffic since the previous report (edge servers)',
        body: EdgeMetricsReport,
        response: { 202: MetricsIngestResult, ...errorResponses(400, 401, 403) },
      },
    },
    async (req, reply) => {
      requireServer(req, 'edge');
      return reply.code(202).send(await rollup.ingestEdge(req.body));
    },
  );

  app.post(
    '/agents/:serverId/metrics',
    {
      schema: {
        tags: ['agents'],
        summary: "Report CPU and memory of the environments' containers (app servers)",
        params: ServerIdParams,
        body: AgentMetricsReport,
        response: { 202: MetricsIngestResult, ...errorResponses(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const p = requireServer(req, 'app');
      if (p.serverId !== req.params.serverId)
        throw new TriplaneError('TRIPLANE_ERR_FORBIDDEN', 'a server may only act for itself');
      return reply.code(202).send(await rollup.ingestContainers(p.serverId, req.body));
    },
  );

  app.get(
    '/environments/:id/metrics',
    {
      schema: {
        tags: ['environments'],
        summary: "The environment's traffic, latency, cache, WAF, upstream and container series",
        params: EnvParams,
        querystring: MetricsQuery,
        response: { 200: EnvironmentMetrics, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const { env } = await requireEnvironmentRole(req, req.params.id, 'viewer');
      return environmentSeries(store, env.id, req.query.range ?? '1h', clock.now(), parseSeries(req.query.series));
    },
  );
}
