import { type Static, Type } from '@sinclair/typebox';
import { forbidden, isoNow, notFound } from '@triplane/kernel';
import { ApiToken, ApiTokenList, CreateApiTokenRequest, CreatedApiToken, Id, ListQuery } from '@triplane/spec';
import type { FastifyInstance } from 'fastify';
import { audit } from '../../../audit/audit.ts';
import { toApiToken } from '../../../identity/dto.ts';
import { DEFAULT_PAGE_SIZE, page } from '../../../identity/pagination.ts';
import { issueApiToken } from '../../../identity/tokens.ts';
import { requireUser } from '../../auth/authorize.ts';
import { errorResponses } from '../../errors.ts';

const TAGS = ['tokens'];
const DAY_MS = 24 * 60 * 60 * 1000;
/** Shown in lists so a user can recognise a token: `tpl_` and 4 characters of the secret. */

const TokenParams = Type.Object({ tokenId: Id }, { additionalProperties: false });
const TokenListQuery = Type.Composite(
  [ListQuery, Type.Object({ userId: Type.Optional(Id), includeRevoked: Type.Optional(Type.Boolean({ default: false })) })],
  { additionalProperties: false },
);

/**
 * /api/v1/tokens: personal API tokens. A token acts with all the rights of its user. The
 * secret (`tpl_…`, 256 bits) is returned once, by the creating call; the store keeps only
 * its SHA-256 and the first 8 characters for display. Revoked or expired tokens get 401
 * immediately. Users manage their own tokens; platform administrators can list (`userId`)
 * and revoke anyone's.
 */
export default async function tokensRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Querystring: Static<typeof TokenListQuery> }>(
    '/tokens',
    {
      schema: {
        tags: TAGS,
        summary: "List your API tokens (administrators: anyone's, with userId); secrets are never shown",
        querystring: TokenListQuery,
        response: { 200: ApiTokenList, ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => {
      const u = requireUser(req);
      const userId = req.query.userId ?? u.userId;
      if (userId !== u.userId && !u.isSuperuser) throw forbidden("only platform administrators can list other users' tokens");
      const limit = req.query.limit ?? DEFAULT_PAGE_SIZE;
      let q = app.ctx.store.db
        .selectFrom('api_tokens')
        .selectAll()
        .where('user_id', '=', userId)
        .orderBy('id')
        .limit(limit + 1);
      if (!req.query.includeRevoked) q = q.where('revoked_at', 'is', null);
      if (req.query.cursor) q = q.where('id', '>', req.query.cursor);
      const p = page(await q.execute(), limit);
      return { items: p.items.map(toApiToken), nextCursor: p.nextCursor };
    },
  );

  app.post<{ Body: CreateApiTokenRequest }>(
    '/tokens',
    {
      schema: {
        tags: TAGS,
        summary: 'Create an API token for yourself; the answer is the only time its secret is shown',
        body: CreateApiTokenRequest,
        response: { 201: CreatedApiToken, ...errorResponses(400, 401, 403, 415) },
      },
    },
    async (req, reply) => {
      const u = requireUser(req);
      const nowMs = app.ctx.clock.now();
      const { row, token } = await app.ctx.store.transaction(async (trx) => {
        const issued = await issueApiToken(trx, {
          userId: u.userId,
          name: req.body.name,
          nowMs,
          expiresAtMs: req.body.expiresInDays ? nowMs + req.body.expiresInDays * DAY_MS : null,
        });
        await audit(trx, req, {
          action: 'token.create',
          orgId: null,
          targetType: 'api_token',
          targetId: issued.row.id,
          details: {
            name: issued.row.name,
            userId: u.userId,
            expiresAt: issued.row.expires_at,
            tokenPrefix: issued.row.token_prefix,
          },
        });
        return issued;
      });
      return reply.code(201).send({ ...toApiToken(row), token });
    },
  );

  app.get<{ Params: Static<typeof TokenParams> }>(
    '/tokens/:tokenId',
    {
      schema: {
        tags: TAGS,
        summary: 'Show one of your API tokens (without its secret)',
        params: TokenParams,
        response: { 200: ApiToken, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const u = requireUser(req);
      const row = await app.ctx.store.db
        .selectFrom('api_tokens')
        .selectAll()
        .where('id', '=', req.params.tokenId)
        .executeTakeFirst();
      if (!row || (row.user_id !== u.userId && !u.isSuperuser)) throw notFound('token');
      return toApiToken(row);
    },
  );

  app.delete<{ Params: Static<typeof TokenParams> }>(
    '/tokens/:tokenId',
    {
      schema: {
        tags: TAGS,
        summary: 'Revoke an API token (your own; administrators: any). Idempotent',
        params: TokenParams,
        response: { 204: { type: 'null', description: 'revoked' }, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      const u = requireUser(req);
      const { tokenId } = req.params;
      await app.ctx.store.transaction(async (trx) => {
        const row = await trx.selectFrom('api_tokens').selectAll().where('id', '=', tokenId).executeTakeFirst();
        if (!row || (row.user_id !== u.userId && !u.isSuperuser)) throw notFound('token');
        if (row.revoked_at) return;
        await trx
          .updateTable('api_tokens')
          .set({ revoked_at: isoNow(app.ctx.clock) })
          .where('id', '=', tokenId)
          .execute();
        await audit(trx, req, {
          action: 'token.revoke',
          orgId: null,
          targetType: 'api_token',
          targetId: tokenId,
          details: { name: row.name, userId: row.user_id, tokenPrefix: row.token_prefix },
        });
      });
      return reply.code(204).send();
    },
  );
}
