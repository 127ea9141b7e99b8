import { isoNow, TriplaneError } from '@triplane/kernel';
import { LoginRequest, LoginResponse, MeResponse } from '@triplane/spec';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { audit } from '../../../audit/audit.ts';
import { toMembership, toUser } from '../../../identity/dto.ts';
import { hit, purgeExpired, reset } from '../../../identity/rate-limit.ts';
import { clearSessionCookies, createSession, setSessionCookies } from '../../../identity/session.ts';
import { requireUser } from '../../auth/authorize.ts';
import { dummyPasswordHash, verifyPassword } from '../../auth/secrets.ts';
import { errorResponses } from '../../errors.ts';

const TAGS = ['auth'];
const RATE_PREFIX = 'login:';

function userAgent(req: FastifyRequest): string | null {
  const ua = req.headers['user-agent'];
  return typeof ua === 'string' ? ua : null;
}

/**
 * /api/v1/auth: dashboard sign-in. Login answers the same 401 for an unknown email, a
 * wrong password, a disabled user and a user without a password, after the same scrypt
 * work (a dummy hash stands in for the missing one), so neither the answer nor its timing
 * tells which emails exist. Attempts are counted per (ip, email) and per ip in fixed
 * windows (options.loginRateLimit); over either limit → 429 with Retry-After.
 */
export default async function authRoutes(app: FastifyInstance): Promise<void> {
  // Compute the dummy hash now, so the first unknown-email login isn't slower than the rest.
  await dummyPasswordHash();

  app.post<{ Body: LoginRequest }>(
    '/auth/login',
    {
      config: { ignoreSessionCookie: true },
      schema: {
        tags: TAGS,
        summary: 'Sign in with email and password; sets the session and CSRF cookies',
        security: [],
        body: LoginRequest,
        response: { 200: LoginResponse, ...errorResponses(400, 401, 415, 429) },
      },
    },
    async (req, reply) => {
      const { store, clock, options } = app.ctx;
      const { db } = store;
      const email = req.body.email.toLowerCase();
      const nowMs = clock.now();
      const { perKey, perIp, windowMs } = options.loginRateLimit;
      const ipKey = `${RATE_PREFIX}ip:${req.ip}`;
      const pairKey = `${RATE_PREFIX}ip-email:${req.ip}|${email}`;

      const byIp = await hit(db, ipKey, { limit: perIp, windowMs }, nowMs);
      const byPair = await hit(db, pairKey, { limit: perKey, windowMs }, nowMs);
      if (byIp.count === 1) await purgeExpired(db, RATE_PREFIX, windowMs, nowMs);
      if (!byIp.allowed || !byPair.allowed) {
        const retryAfterSeconds = Math.max(
          byIp.allowed ? 0 : byIp.retryAfterSeconds,
          byPair.allowed ? 0 : byPair.retryAfterSeconds,
        );
        await store.transaction((trx) =>
          audit(trx, req, {
            action: 'auth.login_rate_limited',
            orgId: null,
            targetType: 'user',
            targetId: null,
            details: { email, limit: byIp.allowed ? 'ip-email' : 'ip' },
          }),
        );
        throw new TriplaneError('TRIPLANE_ERR_RATE_LIMITED', 'too many sign-in attempts; try again later', {
          retryAfterSeconds,
        });
      }

      const user = await db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
      const passwordOk = await verifyPassword(req.body.password, user?.password_hash ?? (await dummyPasswordHash()));
      if (!user || !passwordOk || user.password_hash === null || Number(user.disabled) === 1) {
        await store.transaction((trx) =>
          audit(trx, req, { action: 'auth.login_failed', orgId: null, targetType: 'user', targetId: null, details: { email } }),
        );
        throw new TriplaneError('TRIPLANE_ERR_UNAUTHENTICATED', 'wrong email or password');
      }

      // This pair's fumbles are forgiven; the per-ip counter and other emails' counters stay.
      await reset(db, pairKey);
      const session = await store.transaction(async (trx) => {
        const s = await createSession(trx, { userId: user.id, nowMs, ip: req.ip ?? null, userAgent: userAgent(req) });
        req.principal = {
          kind: 'user',
          userId: user.id,
          email: user.email,
          isSuperuser: Number(user.is_superuser) === 1,
          via: 'session',
          sessionId: s.id,
        };
        await audit(trx, req, {
          action: 'auth.login',
          orgId: null,
          targetType: 'session',
          targetId: s.id,
          details: { email, userId: user.id },
        });
        return s;
      });
      setSessionCookies(reply, session, options.secureCookies);
      return { user: toUser(user), csrfToken: session.csrfToken, expiresAt: session.expiresAt };
    },
  );

  app.post(
    '/auth/logout',
    {
      schema: {
        tags: TAGS,
        summary: 'End the current dashboard session and clear its cookies',
        response: { 204: { type: 'null', description: 'signed out' }, ...errorResponses(401, 403) },
      },
    },
    async (req, reply) => {
      const u = requireUser(req);
      const { store, clock, options } = app.ctx;
      if (u.via === 'session' && u.sessionId) {
        const sessionId = u.sessionId;
        await store.transaction(async (trx) => {
          await trx
            .updateTable('sessions')
            .set({ revoked_at: isoNow(clock) })
            .where('id', '=', sessionId)
            .where('revoked_at', 'is', null)
            .execute();
          await audit(trx, req, { action: 'auth.logout', orgId: null, targetType: 'session', targetId: sessionId });
        });
      }
      clearSessionCookies(reply, options.secureCookies);
      return reply.code(204).send();
    },
  );

  app.get(
    '/auth/me',
    {
      schema: {
        tags: TAGS,
        summary: 'Who am I: the calling user, their memberships, and how they authenticated',
        response: { 200: MeResponse, ...errorResponses(401, 403) },
      },
    },
    async (req) => {
      const u = requireUser(req);
      const { db } = app.ctx.store;
      const user = await db.selectFrom('users').selectAll().where('id', '=', u.userId).executeTakeFirst();
      if (!user) throw new TriplaneError('TRIPLANE_ERR_UNAUTHENTICATED', 'the user no longer exists');
      const rows = await db
        .selectFrom('memberships')
        .innerJoin('organizations', 'organizations.id', 'memberships.org_id')
        .selectAll('memberships')
        .select(['organizations.slug as org_slug', 'organizations.name as org_name'])
        .where('memberships.user_id', '=', u.userId)
        .orderBy('organizations.slug')
        .orderBy('memberships.scope')
        .execute();
      return {
        user: toUser(user),
        memberships: rows.map((r) => ({
          ...toMembership({ ...r, email: user.email, name: user.name }),
          orgSlug: r.org_slug,
          orgName: r.org_name,
        })),
        via: u.via,
      };
    },
  );
}
