import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { isoNow, newSortableId } from '@triplane/kernel';
import { WafEventBatch, WafEventBatchResult } from '@triplane/spec';
import type { FastifyInstance } from 'fastify';
import type { Insertable, Transaction } from 'kysely';
import type { DB, WafEventsTable } from '../../../store/schema.ts';
import { requireServer } from '../../auth/authorize.ts';
import { errorResponses } from '../../errors.ts';

/** Per environment, the newest events kept… */
export const WAF_EVENTS_KEEP = 10_000;
/** …and none older than this. */
export const WAF_EVENTS_MAX_AGE_MS = 30 * 24 * 3600 * 1000;
const PREFIX = 'wafev';

/**
 * Bounded retention, on insert (no scheduler needed): drops an environment's events past the newest
 * WAF_EVENTS_KEEP and those older than WAF_EVENTS_MAX_AGE_MS. Ids are time-ordered, so the age cut is
 * an id comparison against the id prefix of that instant.
 */
export async function pruneWafEvents(
  trx: Transaction<DB>,
  environmentId: string,
  nowMs: number,
  keep = WAF_EVENTS_KEEP,
): Promise<void> {
  const oldest = newSortableId(PREFIX, nowMs - WAF_EVENTS_MAX_AGE_MS).slice(0, PREFIX.length + 11);
  await trx.deleteFrom('waf_events').where('environment_id', '=', environmentId).where('id', '<', oldest).execute();
  const cut = await trx
    .selectFrom('waf_events')
    .select('id')
    .where('environment_id', '=', environmentId)
    .orderBy('id', 'desc')
    .offset(keep)
    .limit(1)
    .executeTakeFirst();
  if (cut) await trx.deleteFrom('waf_events').where('environment_id', '=', environmentId).where('id', '<=', cut.id).execute();
}

/**
 * POST /edge/waf-events — WAF events batched by an edge (packages/edge/src/waf-events.ts). Edge
 * servers only (their `tpa_` credential, like the snapshot and the heartbeat). Events of unknown
 * environments are counted as `ignored`, not refused: an edge may still serve a snapshot that
 * names a deleted environment. Telemetry, like heartbeats: not in the audit log.
 */
export function registerWafEventsIngest(app: FastifyInstance): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { store, clock } = r.ctx;
  r.post(
    '/edge/waf-events',
    {
      schema: {
        tags: ['edge'],
        summary: 'Report WAF events (requests the WAF refused or logged rules for)',
        body: WafEventBatch,
        response: { 202: WafEventBatchResult, ...errorResponses(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const server = requireServer(req, 'edge');
      const events = req.body.events;
      const receivedAt = isoNow(clock);
      const nowMs = clock.now();
      const out = await store.transaction(async (trx) => {
        const wanted = [...new Set(events.map((e) => e.environmentId))];
        const known = new Set(
          (await trx.selectFrom('environments').select('id').where('id', 'in', wanted).execute()).map((row) => row.id),
        );
        const rows: Insertable<WafEventsTable>[] = [];
        for (const e of events) {
          if (!known.has(e.environmentId)) continue;
          rows.push({
            id: newSortableId(PREFIX, nowMs),
            environment_id: e.environmentId,
            edge_server_id: server.serverId,
            received_at: receivedAt,
            event_time: new Date(e.time).toISOString(),
            request_id: e.requestId,
            client_ip: e.clientIp,
            method: e.method,
            host: e.host,
            uri: e.uri,
            status: e.status,
            action: e.action,
            anomaly_score: e.anomalyScore,
            outbound_anomaly_score: e.outboundAnomalyScore,
            rule_ids: `,${e.rules.map((x) => x.id).join(',')},`,
            rules: JSON.stringify(e.rules),
          });
        }
        // chunks keep every statement under SQLite's bound-parameter limit
        for (let i = 0; i < rows.length; i += 50)
          await trx
            .insertInto('waf_events')
            .values(rows.slice(i, i + 50))
            .execute();
        for (const env of known) await pruneWafEvents(trx, env, nowMs);
        return { accepted: rows.length, ignored: events.length - rows.length };
      });
      return reply.code(202).send(out);
    },
  );
}
