import { type Static, Type } from '@sinclair/typebox';
import { conflict, forbidden, isoNow, newId, notFound, TriplaneError, validation } from '@triplane/kernel';
import { CreateUserRequest, Email, Id, ListQuery, UpdateUserRequest, User, UserList } from '@triplane/spec';
import type { FastifyInstance } from 'fastify';
import type { Updateable } from 'kysely';
import { audit } from '../../../audit/audit.ts';
import { toUser } from '../../../identity/dto.ts';
import { DEFAULT_PAGE_SIZE, page } from '../../../identity/pagination.ts';
import { revokeUserSessions } from '../../../identity/session.ts';
import type { UsersTable } from '../../../store/schema.ts';
import { requireSuperuser, requireUser } from '../../auth/authorize.ts';
import { hashPassword, verifyPassword } from '../../auth/secrets.ts';
import { errorResponses } from '../../errors.ts';

const TAGS = ['users'];
const UserParams = Type.Object({ userId: Id }, { additionalProperties: false });
type UserParams = Static<typeof UserParams>;
const UserListQuery = Type.Composite([ListQuery, Type.Object({ email: Type.Optional(Email) })], {
  additionalProperties: false,
});

/**
 * /api/v1/users: platform users. Platform administrators create and list users and may
 * disable them or reset their password; everyone else sees and edits only themselves
 * (another user's id is a 404). Changing one's own password needs the current one and
 * signs out one's other sessions; disabling a user ends all their sessions (their API
 * tokens stop working at once, authenticate() checks `disabled`).
 */
export default async function usersRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: CreateUserRequest }>(
    '/users',
    {
      schema: {
        tags: TAGS,
        summary: 'Create a user (platform administrators)',
        body: CreateUserRequest,
        response: { 201: User, ...errorResponses(400, 401, 403, 409, 415) },
      },
    },
    async (req, reply) => {
      requireSuperuser(req);
      const email = req.body.email.toLowerCase();
      const now = isoNow(app.ctx.clock);
      const row = {
        id: newId('usr'),
        email,
        name: req.body.name,
        password_hash: req.body.password ? await hashPassword(req.body.password) : null,
        is_superuser: 0,
        disabled: 0,
        created_at: now,
        updated_at: now,
      };
      await app.ctx.store.transaction(async (trx) => {
        const taken = await trx.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst();
        if (taken) throw new TriplaneError('TRIPLANE_ERR_ALREADY_EXISTS', 'a user with this email already exists');
        await trx.insertInto('users').values(row).execute();
        await audit(trx, req, {
          action: 'user.create',
          orgId: null,
          targetType: 'user',
          targetId: row.id,
          details: { email, name: row.name, withPassword: row.password_hash !== null },
        });
      });
      return reply.code(201).send(toUser(row));
    },
  );

  app.get<{ Querystring: Static<typeof UserListQuery> }>(
    '/users',
    {
      schema: {
        tags: TAGS,
        summary: 'List users (platform administrators)',
        querystring: UserListQuery,
        response: { 200: UserList, ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => {
      requireSuperuser(req);
      const limit = req.query.limit ?? DEFAULT_PAGE_SIZE;
      let q = app.ctx.store.db
        .selectFrom('users')
        .selectAll()
        .orderBy('id')
        .limit(limit + 1);
      if (req.query.cursor) q = q.where('id', '>', req.query.cursor);
      if (req.query.email) q = q.where('email', '=', req.query.email.toLowerCase());
      const p = page(await q.execute(), limit);
      return { items: p.items.map(toUser), nextCursor: p.nextCursor };
    },
  );

  app.get<{ Params: UserParams }>(
    '/users/:userId',
    {
      schema: {
        tags: TAGS,
        summary: 'Show a user (yourself, or anyone for platform administrators)',
        params: UserParams,
        response: { 200: User, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const u = requireUser(req);
      const { userId } = req.params;
      if (!u.isSuperuser && u.userId !== userId) throw notFound('user');
      const row = await app.ctx.store.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
      if (!row) throw notFound('user');
      return toUser(row);
    },
  );

  app.patch<{ Params: UserParams; Body: UpdateUserRequest }>(
    '/users/:userId',
    {
      schema: {
        tags: TAGS,
        summary: 'Change a user: name and password (yourself; the current password is required), disabled (administrators)',
        params: UserParams,
        body: UpdateUserRequest,
        response: { 200: User, ...errorResponses(400, 401, 403, 404, 409, 415) },
      },
    },
    async (req) => {
      const u = requireUser(req);
      const { userId } = req.params;
      const self = u.userId === userId;
      if (!u.isSuperuser && !self) throw notFound('user');
      const body = req.body;
      if (body.disabled !== undefined && !u.isSuperuser) throw forbidden('only platform administrators can disable users');
      if (body.disabled === true && self) throw conflict('you cannot disable yourself');
      if (body.currentPassword !== undefined && body.password === undefined) {
        throw validation('body.currentPassword is only used together with body.password');
      }

      const { db } = app.ctx.store;
      const current = await db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
      if (!current) throw notFound('user');

      const changes: Updateable<UsersTable> = {};
      if (body.name !== undefined) changes.name = body.name;
      if (body.disabled !== undefined) changes.disabled = body.disabled ? 1 : 0;
      if (body.password !== undefined) {
        // Yourself: prove you know the current password (a stolen session must not be able to
        // lock the owner out). Administrators resetting someone else's password don't need it.
        if (self && current.password_hash !== null) {
          if (body.currentPassword === undefined) throw validation('body.currentPassword is required to change your password');
          if (!(await verifyPassword(body.currentPassword, current.password_hash))) {
            throw forbidden('the current password is wrong');
          }
        }
        changes.password_hash = await hashPassword(body.password);
      }
      const now = isoNow(app.ctx.clock);
      changes.updated_at = now;

      return app.ctx.store.transaction(async (trx) => {
        const r = await trx.updateTable('users').set(changes).where('id', '=', userId).executeTakeFirst();
        if (Number(r.numUpdatedRows) === 0) throw notFound('user');
        if (changes.disabled === 1) await revokeUserSessions(trx, userId, now);
        else if (changes.password_hash) await revokeUserSessions(trx, userId, now, self ? u.sessionId : undefined);
        const fields = Object.keys(body).filter((k) => k !== 'currentPassword');
        await audit(trx, req, {
          action: 'user.update',
          orgId: null,
          targetType: 'user',
          targetId: userId,
          details: {
            fields,
            ...(body.name !== undefined ? { name: body.name } : {}),
            ...(body.disabled !== undefined ? { disabled: body.disabled } : {}),
          },
        });
        const after = await trx.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow();
        return toUser(after);
      });
    },
  );
}
