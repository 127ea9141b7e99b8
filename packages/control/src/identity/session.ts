import { newId, newSecret } from '@triplane/kernel';
import type { FastifyReply } from 'fastify';
import type { Kysely } from 'kysely';
import { CSRF_COOKIE, SESSION_COOKIE } from '../api/auth/authenticate.ts';
import { hashSecret, TOKEN_PREFIX } from '../api/auth/secrets.ts';
import type { DB } from '../store/schema.ts';

/** How long a dashboard session lives: a working day; then the user signs in again. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

export interface NewSession {
  id: string;
  /** The cookie value (`tps_…`); only its hash is stored. */
  token: string;
  /** The double-submit CSRF token (`tpc_…`); only its hash is stored. */
  csrfToken: string;
  expiresAt: string;
}

/**
 * Start a dashboard session for a user. Both secrets have 256 bits of entropy and are
 * stored as SHA-256 digests (see secrets.ts), so the sessions table can't be replayed.
 */
export async function createSession(
  trx: Kysely<DB>,
  o: { userId: string; nowMs: number; ip: string | null; userAgent: string | null },
): Promise<NewSession> {
  const s: NewSession = {
    id: newId('ses'),
    token: newSecret(TOKEN_PREFIX.session),
    csrfToken: newSecret(TOKEN_PREFIX.csrf),
    expiresAt: new Date(o.nowMs + SESSION_TTL_MS).toISOString(),
  };
  await trx
    .insertInto('sessions')
    .values({
      id: s.id,
      user_id: o.userId,
      token_hash: hashSecret(s.token),
      csrf_hash: hashSecret(s.csrfToken),
      created_at: new Date(o.nowMs).toISOString(),
      expires_at: s.expiresAt,
      revoked_at: null,
      ip: o.ip,
      user_agent: o.userAgent ? o.userAgent.slice(0, 300) : null,
    })
    .execute();
  return s;
}

/** Revoke every live session of a user, except `keepId` (the caller's own) when given. */
export async function revokeUserSessions(trx: Kysely<DB>, userId: string, nowIso: string, keepId?: string): Promise<void> {
  let q = trx.updateTable('sessions').set({ revoked_at: nowIso }).where('user_id', '=', userId).where('revoked_at', 'is', null);
  if (keepId) q = q.where('id', '!=', keepId);
  await q.execute();
}

/**
 * The session cookie is httpOnly (scripts can't read it) and SameSite=Strict (no other
 * site can make the browser send it); the CSRF cookie is readable so the dashboard can
 * echo it in `x-csrf-token` after a reload. Secure whenever the API is served over TLS.
 */
export function setSessionCookies(reply: FastifyReply, s: NewSession, secure: boolean): void {
  const common = { path: '/', sameSite: 'strict' as const, secure, maxAge: Math.floor(SESSION_TTL_MS / 1000) };
  reply.setCookie(SESSION_COOKIE, s.token, { ...common, httpOnly: true });
  reply.setCookie(CSRF_COOKIE, s.csrfToken, { ...common, httpOnly: false });
}

export function clearSessionCookies(reply: FastifyReply, secure: boolean): void {
  const common = { path: '/', sameSite: 'strict' as const, secure };
  reply.clearCookie(SESSION_COOKIE, { ...common, httpOnly: true });
  reply.clearCookie(CSRF_COOKIE, { ...common, httpOnly: false });
}
