import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { Id, type WafEvent, type WafEventAction, WafEventList, WafEventQuery } from '@triplane/spec';
import type { FastifyInstance } from 'fastify';
import type { Selectable } from 'kysely';
import type { WafEventsTable } from '../../../store/schema.ts';
import { errorResponses } from '../../errors.ts';
import { decodeCursor, encodeCursor, requireEnvironmentRole } from '../sites/access.ts';

const EnvParams = Type.Object({ id: Id }, { additionalProperties: false });

function toEvent(r: Selectable<WafEventsTable>): WafEvent {
  let rules: WafEvent['rules'] = [];
  try {
    rules = JSON.parse(r.rules) as WafEvent['rules'];
  } catch {
    rules = [];
  }
  return {
    id: r.id,
    environmentId: r.environment_id,
    edgeServerId: r.edge_server_id,
    receivedAt: r.received_at,
    time: r.event_time,
    requestId: r.request_id,
    clientIp: r.client_ip,
    method: r.method,
    host: r.host,
    uri: r.uri,
    status: r.status,
    action: r.action as WafEventAction,
    anomalyScore: r.anomaly_score,
    outboundAnomalyScore: r.outbound_anomaly_score,
    rules,
  };
}

/**
 * GET /environments/{id}/waf/events — the environment's WAF events, newest first (cursor
 * pagination; filters: ruleId, action, since/until on the event time). Viewers and up on the site.
 */
export function registerWafEventsRoute(app: FastifyInstance): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { store } = r.ctx;
  r.get(
    '/environments/:id/waf/events',
    {
      schema: {
        tags: ['environments'],
        summary: "The environment's WAF events (newest first, cursor pagination)",
        params: EnvParams,
        querystring: WafEventQuery,
        response: { 200: WafEventList, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const { env } = await requireEnvironmentRole(req, req.params.id, 'viewer');
      const q = req.query;
      const limit = q.limit ?? 100;
      let sel = store.db.selectFrom('waf_events').selectAll().where('environment_id', '=', env.id);
      if (q.ruleId !== undefined) sel = sel.where('rule_ids', 'like', `%,${q.ruleId},%`);
      if (q.action) sel = sel.where('action', '=', q.action);
      // event_time is ISO-8601 UTC text: string order is time order
      if (q.since) sel = sel.where('event_time', '>=', new Date(q.since).toISOString());
      if (q.until) sel = sel.where('event_time', '<', new Date(q.until).toISOString());
      if (q.cursor) {
        const [id] = decodeCursor(q.cursor, 1) as [string];
        sel = sel.where('id', '<', id);
      }
      const rows = await sel
        .orderBy('id', 'desc')
        .limit(limit + 1)
        .execute();
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { items: page.map(toEvent), nextCursor: rows.length > limit && last ? encodeCursor([last.id]) : null };
    },
  );
}
