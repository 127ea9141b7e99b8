import { isoNow, TriplaneError } from '@triplane/kernel';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from './principal.ts';
import { hashSecret, TOKEN_PREFIX } from './secrets.ts';

export const SESSION_COOKIE = 'triplane_session';
export const CSRF_COOKIE = 'triplane_csrf';
export const CSRF_HEADER = 'x-csrf-token';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+([A-Za-z0-9_-]{8,200})$/.exec(h.trim());
  if (!m) throw new TriplaneError('TRIPLANE_ERR_UNAUTHENTICATED', 'malformed Authorization header; use "Bearer <token>"');
  return m[1];
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route ignores the session cookie (login: a stale cookie must not block signing in). */
    ignoreSessionCookie?: boolean;
  }
}

function ignoresSessionCookie(req: FastifyRequest): boolean {
  return req.routeOptions.config?.ignoreSessionCookie === true;
}

/**
 * Resolve the caller from a Bearer token (API token or server credential) or the session
 * cookie. A presented credential that is wrong, expired or revoked is a 401 — never a
 * silent downgrade to anonymous. Session-cookie calls that mutate must carry the CSRF
 * token in `x-csrf-token` (double submit, checked against the hash stored with the session).
 */
export async function authenticate(app: FastifyInstance, req: FastifyRequest): Promise<Principal> {
  const { db } = app.ctx.store;
  const now = isoNow(app.ctx.clock);
  const token = bearer(req);
  if (token) {
    const hash = hashSecret(token);
    if (token.startsWith(`${TOKEN_PREFIX.api}_`)) {
      const row = await db
        .selectFrom('api_tokens')
        .innerJoin('users', 'users.id', 'api_tokens.user_id')
        .select([
          'api_tokens.id as token_id',
          'api_tokens.expires_at',
          'api_tokens.revoked_at',
          'api_tokens.last_used_at',
          'users.id as user_id',
          'users.email',
          'users.is_superuser',
          'users.disabled',
        ])
        .where('api_tokens.token_hash', '=', hash)
        .executeTakeFirst();
      if (!row || row.revoked_at || row.disabled || (row.expires_at && row.expires_at <= now)) {
        throw new TriplaneError('TRIPLANE_ERR_UNAUTHENTICATED', 'invalid, expired or revoked token');
      }
      // last_used_at at minute granularity: one write per token per minute at most.
      if (!row.last_used_at || row.last_used_at.slice(0, 16) !== now.slice(0, 16)) {
        await db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', row.token_id).execute();
      }
      return {
        kind: 'user',
        userId: row.user_id,
        email: row.email,
        isSuperuser: row.is_superuser === 1,
        via: 'token',
        tokenId: row.token_id,
      };
    }
    if (token.startsWith(`${TOKEN_PREFIX.server}_`)) {
      const row = await db.selectFrom('servers').select(['id', 'role']).where('credential_hash', '=', hash).executeTakeFirst();
      if (!row) throw new TriplaneError('TRIPLANE_ERR_UNAUTHENTICATED', 'invalid server credential');
      return { kind: 'server', serverId: row.id, role: row.role === 'edge' ? 'edge' : 'app' };
    }
    throw new TriplaneError('TRIPLANE_ERR_UNAUTHENTICATED', 'invalid token');
  }

  // Routes that start a session (login) ignore a stale or foreign session cookie: an expired
  // or revoked cookie left in the browser must not lock its owner out of signing in again.
  const cookie = ignoresSessionCookie(req) ? undefined : req.cookies?.[SESSION_COOKIE];
  if (cookie) {
    const row = await db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .select([
        'sessions.id as session_id',
        'sessions.expires_at',
        'sessions.revoked_at',
        'sessions.csrf_hash',
        'users.id as user_id',
        'users.email',
        'users.is_superuser',
        'users.disabled',
      ])
      .where('sessions.token_hash', '=', hashSecret(cookie))
      .executeTakeFirst();
    if (!row || row.revoked_at || row.disabled || row.expires_at <= now) {
      throw new TriplaneError('TRIPLANE_ERR_UNAUTHENTICATED', 'session expired; sign in again');
    }
    if (!SAFE_METHODS.has(req.method)) {
      const csrf = req.headers[CSRF_HEADER];
      if (typeof csrf !== 'string' || hashSecret(csrf) !== row.csrf_hash) {
        throw new TriplaneError('TRIPLANE_ERR_CSRF', `missing or wrong ${CSRF_HEADER} header`);
      }
    }
    return {
      kind: 'user',
      userId: row.user_id,
      email: row.email,
      isSuperuser: row.is_superuser === 1,
      via: 'session',
      sessionId: row.session_id,
    };
  }
  return { kind: 'anonymous' };
}
