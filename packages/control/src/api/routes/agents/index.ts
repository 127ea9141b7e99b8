import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { isoNow, newSecret, TriplaneError } from '@triplane/kernel';
import {
  Assignment,
  HeartbeatRequest,
  HeartbeatResponse,
  JoinRequest,
  JoinResponse,
  ServerIdParams,
  StatusReportRequest,
  StatusReportResponse,
  WatchQuery,
} from '@triplane/spec';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { audit } from '../../../audit/audit.ts';
import { loadAssignment } from '../../../desired/assignment.ts';
import { placeWaiting, WAITING_FOR_SERVER } from '../../../desired/placement.ts';
import { type ObservedEntry, parseObserved, parseServerIds } from '../../../desired/rows.ts';
import { serverStatus } from '../../../desired/servers.ts';
import { aggregateStatus } from '../../../desired/status.ts';
import { bumpRevision, currentRevision } from '../../../store/store.ts';
import { requireServer } from '../../auth/authorize.ts';
import type { ServerPrincipal } from '../../auth/principal.ts';
import { hashSecret, TOKEN_PREFIX } from '../../auth/secrets.ts';
import { errorResponses } from '../../errors.ts';
import { etagOf, serveWatched, watchRegistry } from './watch.ts';

const TAGS = ['agents'];

/** A server may act only as itself. */
function requireSelf(req: FastifyRequest, serverId: string): ServerPrincipal {
  const p = requireServer(req);
  if (p.serverId !== serverId) throw new TriplaneError('TRIPLANE_ERR_FORBIDDEN', 'a server may only act for itself');
  return p;
}

/**
 * /api/v1/agents — the agent protocol.
 *
 *   POST /agents/join                 join token → credential (token consumed; second use 401)
 *   POST /agents/{id}/heartbeat       every ~10 s; keeps the server online (60 s window)
 *   POST /agents/{id}/status          the complete list of environments the agent runs
 *   GET  /agents/{id}/assignment      what to run (ETag, 304, ?wait= long-poll)
 *
 * Heartbeats and status reports are telemetry, not changes of desired state: they are not
 * written to the audit log (one entry per server every 10 s would drown the mutations people
 * need to find). Joining is audited.
 */
export default async function agentsRoutes(base: FastifyInstance): Promise<void> {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { store, clock } = app.ctx;
  const active = watchRegistry(app);

  app.post(
    '/agents/join',
    {
      schema: {
        tags: TAGS,
        summary: 'Exchange a one-time join token for the server credential',
        security: [],
        body: JoinRequest,
        response: { 200: JoinResponse, ...errorResponses(400, 401) },
      },
    },
    async (req) => {
      const b = req.body;
      const credential = newSecret(TOKEN_PREFIX.server);
      const now = isoNow(clock);
      return store.transaction(async (trx) => {
        // Consume the token in one conditional UPDATE: of two concurrent joins, one wins.
        const row = await trx
          .updateTable('servers')
          .set({
            join_token_hash: null,
            join_token_expires_at: null,
            credential_hash: hashSecret(credential),
            status: 'online',
            joined_at: now,
            last_heartbeat_at: now,
            address: b.address ?? null,
            agent_version: b.agentVersion ?? null,
            facts: b.facts ? JSON.stringify(b.facts) : null,
            updated_at: now,
          })
          .where('join_token_hash', '=', hashSecret(b.joinToken))
          .where('join_token_expires_at', '>', now)
          .returning(['id', 'role'])
          .executeTakeFirst();
        if (!row) throw new TriplaneError('TRIPLANE_ERR_UNAUTHENTICATED', 'invalid, expired or already used join token');
        const role = row.role === 'edge' ? 'edge' : 'app';
        req.principal = { kind: 'server', serverId: row.id, role };
        // The address feeds the edge's upstreams; a new app server may take waiting environments.
        await bumpRevision(trx);
        if (role === 'app') await placeWaiting(trx, store.dialect, clock);
        await audit(trx, req, {
          action: 'agent.join',
          orgId: null,
          targetType: 'server',
          targetId: row.id,
          details: { address: b.address ?? null, agentVersion: b.agentVersion ?? null },
        });
        return { serverId: row.id, role, credential };
      });
    },
  );

  app.post(
    '/agents/:serverId/heartbeat',
    {
      schema: {
        tags: TAGS,
        summary: 'Report liveness (and optionally facts)',
        params: ServerIdParams,
        body: HeartbeatRequest,
        response: { 200: HeartbeatResponse, ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => {
      const p = requireSelf(req, req.params.serverId);
      const b = req.body;
      const now = isoNow(clock);
      return store.transaction(async (trx) => {
        const before = await trx
          .selectFrom('servers')
          .select(['joined_at', 'last_heartbeat_at'])
          .where('id', '=', p.serverId)
          .executeTakeFirst();
        if (!before) throw new TriplaneError('TRIPLANE_ERR_UNAUTHENTICATED', 'server no longer exists');
        const wasOnline = serverStatus(before, clock.now()) === 'online';
        await trx
          .updateTable('servers')
          .set({
            status: 'online',
            last_heartbeat_at: now,
            updated_at: now,
            ...(b.facts ? { facts: JSON.stringify(b.facts) } : {}),
            ...(b.agentVersion ? { agent_version: b.agentVersion } : {}),
          })
          .where('id', '=', p.serverId)
          .execute();
        if (p.role === 'app') {
          // Back online, or environments are waiting for a server: place them now.
          const waiting =
            !wasOnline ||
            (await trx
              .selectFrom('environments')
              .select('id')
              .where('server_ids', '=', '[]')
              .where('status', '=', 'pending')
              .where('status_message', '=', WAITING_FOR_SERVER)
              .executeTakeFirst()) !== undefined;
          if (waiting) await placeWaiting(trx, store.dialect, clock);
        }
        return { serverId: p.serverId, status: 'online' as const, revision: await currentRevision(trx) };
      });
    },
  );

  app.post(
    '/agents/:serverId/status',
    {
      schema: {
        tags: TAGS,
        summary: 'Report the environments this server runs (the complete list)',
        params: ServerIdParams,
        body: StatusReportRequest,
        response: { 200: StatusReportResponse, ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => {
      const p = requireSelf(req, req.params.serverId);
      const now = isoNow(clock);
      const reported = new Map(req.body.environments.map((e) => [e.id, e]));
      return store.transaction(async (trx) => {
        // Environments this server runs or ran: placed on it, or with a report from it.
        const rows = await trx
          .selectFrom('environments')
          .select(['id', 'status', 'status_message', 'server_ids', 'observed', 'install_intent'])
          .where((eb) => eb.or([eb('server_ids', 'like', `%"${p.serverId}"%`), eb('observed', 'like', `%"${p.serverId}"%`)]))
          .execute();
        const known = new Set<string>();
        let accepted = 0;
        let intentDropped = false;
        for (const row of rows) {
          const placed = parseServerIds(row.server_ids);
          const observed = parseObserved(row.observed);
          const r = reported.get(row.id);
          const isPlaced = placed.includes(p.serverId);
          const hadReport = observed.servers[p.serverId] !== undefined;
          if (!isPlaced && !hadReport) continue;
          known.add(row.id);
          let installedNow = false;
          if (r) {
            const before = observed.servers[p.serverId];
            const entry: ObservedEntry = {
              status: r.status,
              message: r.message ?? null,
              generation: r.generation ?? null,
              at: now,
              containers: r.containers ?? [],
            };
            // Sticky: an agent that restarted without the (dropped) install intent still counts.
            const installed = r.installed ?? before?.installed;
            if (installed !== undefined) entry.installed = installed;
            installedNow = isPlaced && r.installed === true && row.install_intent != null;
            if (installedNow) intentDropped = true;
            observed.servers[p.serverId] = entry;
            accepted++;
          } else if (hadReport) {
            delete observed.servers[p.serverId];
          } else {
            continue;
          }
          const agg = row.status === 'deleting' ? undefined : aggregateStatus(placed, observed.servers);
          await trx
            .updateTable('environments')
            .set({
              observed: JSON.stringify(observed),
              ...(agg ? { status: agg.status, status_message: agg.message } : {}),
              // The one-time install intent (admin password) is dropped once it has been used.
              ...(installedNow ? { install_intent: null } : {}),
            })
            .where('id', '=', row.id)
            .execute();
        }
        // Dropping an install intent changes assignments: watching agents get the version
        // without the password (and overwrite their saved copy).
        if (intentDropped) await bumpRevision(trx);
        const ignored = [...reported.keys()].filter((id) => !known.has(id));
        return { accepted, ignored };
      });
    },
  );

  app.get(
    '/agents/:serverId/assignment',
    {
      schema: {
        tags: TAGS,
        summary: 'What this server must run (ETag / If-None-Match / ?wait= long-poll)',
        params: ServerIdParams,
        querystring: WatchQuery,
        response: { 200: Assignment, 304: Type.Null({ description: 'not modified' }), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      const p = req.principal;
      const serverId = req.params.serverId;
      if (p.kind === 'anonymous') throw new TriplaneError('TRIPLANE_ERR_UNAUTHENTICATED', 'authentication required');
      if (p.kind === 'server') {
        if (p.serverId !== serverId)
          throw new TriplaneError('TRIPLANE_ERR_FORBIDDEN', 'a server may only read its own assignment');
      } else {
        if (!p.isSuperuser)
          throw new TriplaneError('TRIPLANE_ERR_FORBIDDEN', 'platform administrators and the server itself only');
        const exists = await store.db.selectFrom('servers').select('id').where('id', '=', serverId).executeTakeFirst();
        if (!exists) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'server not found');
      }
      return serveWatched(req, reply, {
        waitSeconds: req.query.wait,
        active,
        build: async () => {
          const body = JSON.stringify(await loadAssignment(store.db, serverId));
          return { body, etag: etagOf(body) };
        },
      });
    },
  );
}
