import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { isoNow, newId, newSecret, TriplaneError } from '@triplane/kernel';
import {
  CreateServerRequest,
  CreateServerResponse,
  Id,
  JoinTokenResponse,
  type PlacedEnvironment,
  ServerDetail,
  ServerList,
  ServerRole,
} from '@triplane/spec';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { audit } from '../../../audit/audit.ts';
import { parseRuntime, parseServerIds } from '../../../desired/rows.ts';
import type { DB } from '../../../store/schema.ts';
import { bumpRevision } from '../../../store/store.ts';
import { requireSuperuser } from '../../auth/authorize.ts';
import { hashSecret, TOKEN_PREFIX } from '../../auth/secrets.ts';
import { errorResponses } from '../../errors.ts';
import { toServer } from './dto.ts';

const TAGS = ['servers'];
const ServerParams = Type.Object({ id: Id }, { additionalProperties: false });
const ListQuery = Type.Object({ role: Type.Optional(ServerRole) }, { additionalProperties: false });

/** A join token is good for 24 hours: long enough to install a machine, short enough to leak harmlessly. */
export const JOIN_TOKEN_TTL_MS = 24 * 60 * 60 * 1000;

function environmentsOn(serverId: string) {
  return (db: Kysely<DB>) =>
    db
      .selectFrom('environments')
      .innerJoin('sites', 'sites.id', 'environments.site_id')
      .select([
        'environments.id',
        'environments.site_id',
        'environments.name',
        'environments.status',
        'environments.server_ids',
        'environments.runtime',
        'sites.org_id',
        'sites.name as site_name',
      ])
      // Ids are random base32, so a substring match on the JSON list is exact; re-checked below.
      .where('environments.server_ids', 'like', `%"${serverId}"%`)
      .orderBy('environments.created_at')
      .orderBy('environments.id')
      .execute()
      .then((rows) => rows.filter((r) => parseServerIds(r.server_ids).includes(serverId)));
}

/**
 * /api/v1/servers — the machines of the platform (superusers only). Creating a server answers
 * with its one-time join token (`tpj_…`, stored hashed, valid 24 h); the agent exchanges it at
 * POST /agents/join for its credential. A server with environments placed on it can't be deleted.
 */
export default async function serversRoutes(base: FastifyInstance): Promise<void> {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { store, clock } = app.ctx;

  app.get(
    '/servers',
    {
      schema: {
        tags: TAGS,
        summary: 'List servers',
        querystring: ListQuery,
        response: { 200: ServerList, ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => {
      requireSuperuser(req);
      let q = store.db.selectFrom('servers').selectAll().orderBy('created_at').orderBy('id');
      if (req.query.role) q = q.where('role', '=', req.query.role);
      const [rows, envs] = await Promise.all([q.execute(), store.db.selectFrom('environments').select('server_ids').execute()]);
      const count = new Map<string, number>();
      for (const e of envs) for (const s of parseServerIds(e.server_ids)) count.set(s, (count.get(s) ?? 0) + 1);
      const now = clock.now();
      return { items: rows.map((r) => toServer(r, now, count.get(r.id) ?? 0)), nextCursor: null };
    },
  );

  app.post(
    '/servers',
    {
      schema: {
        tags: TAGS,
        summary: 'Register a server; the answer carries its one-time join token',
        body: CreateServerRequest,
        response: { 201: CreateServerResponse, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (req, reply) => {
      requireSuperuser(req);
      const joinToken = newSecret(TOKEN_PREFIX.join);
      const now = isoNow(clock);
      const expires = new Date(clock.now() + JOIN_TOKEN_TTL_MS).toISOString();
      const row = {
        id: newId('srv'),
        name: req.body.name,
        role: req.body.role,
        status: 'pending',
        address: null,
        join_token_hash: hashSecret(joinToken),
        join_token_expires_at: expires,
        credential_hash: null,
        joined_at: null,
        last_heartbeat_at: null,
        agent_version: null,
        facts: null,
        created_at: now,
        updated_at: now,
      };
      await store.transaction(async (trx) => {
        const taken = await trx.selectFrom('servers').select('id').where('name', '=', row.name).executeTakeFirst();
        if (taken) throw new TriplaneError('TRIPLANE_ERR_ALREADY_EXISTS', `a server named ${row.name} already exists`);
        await trx.insertInto('servers').values(row).execute();
        await audit(trx, req, {
          action: 'server.create',
          orgId: null,
          targetType: 'server',
          targetId: row.id,
          details: { name: row.name, role: row.role },
        });
      });
      return reply.code(201).send({ server: toServer(row, clock.now(), 0), joinToken, joinTokenExpiresAt: expires });
    },
  );

  app.get(
    '/servers/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'A server and the environments placed on it',
        params: ServerParams,
        response: { 200: ServerDetail, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      requireSuperuser(req);
      const row = await store.db.selectFrom('servers').selectAll().where('id', '=', req.params.id).executeTakeFirst();
      if (!row) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'server not found');
      const envs = await environmentsOn(row.id)(store.db);
      const environments: PlacedEnvironment[] = envs.map((e) => ({
        id: e.id,
        siteId: e.site_id,
        orgId: e.org_id,
        siteName: e.site_name,
        name: e.name,
        status: e.status as PlacedEnvironment['status'],
        webPort: parseRuntime(e.runtime).webPorts[row.id] ?? null,
      }));
      return { ...toServer(row, clock.now(), envs.length), environments };
    },
  );

  app.post(
    '/servers/:id/join-token',
    {
      schema: {
        tags: TAGS,
        summary: 'Issue a new join token (the previous one stops working); joining again replaces the credential',
        params: ServerParams,
        response: { 201: JoinTokenResponse, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      requireSuperuser(req);
      const joinToken = newSecret(TOKEN_PREFIX.join);
      const expiresAt = new Date(clock.now() + JOIN_TOKEN_TTL_MS).toISOString();
      await store.transaction(async (trx) => {
        const r = await trx
          .updateTable('servers')
          .set({ join_token_hash: hashSecret(joinToken), join_token_expires_at: expiresAt, updated_at: isoNow(clock) })
          .where('id', '=', req.params.id)
          .executeTakeFirst();
        if (Number(r.numUpdatedRows) === 0) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'server not found');
        await audit(trx, req, { action: 'server.join-token.rotate', orgId: null, targetType: 'server', targetId: req.params.id });
      });
      return reply.code(201).send({ joinToken, expiresAt });
    },
  );

  app.delete(
    '/servers/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Remove a server (refused while environments are placed on it)',
        params: ServerParams,
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req, reply) => {
      requireSuperuser(req);
      await store.transaction(async (trx) => {
        const row = await trx.selectFrom('servers').select(['id', 'name']).where('id', '=', req.params.id).executeTakeFirst();
        if (!row) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'server not found');
        const placed = await environmentsOn(row.id)(trx);
        if (placed.length) {
          throw new TriplaneError(
            'TRIPLANE_ERR_CONFLICT',
            `${placed.length} environment(s) are placed on this server; move or delete them first`,
            {
              environmentIds: placed.map((e) => e.id),
            },
          );
        }
        await trx.deleteFrom('servers').where('id', '=', row.id).execute();
        await bumpRevision(trx);
        await audit(trx, req, {
          action: 'server.delete',
          orgId: null,
          targetType: 'server',
          targetId: row.id,
          details: { name: row.name },
        });
      });
      return reply.code(204).send(null);
    },
  );
}
