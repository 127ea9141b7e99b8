import { isoNow, newSortableId } from '@triplane/kernel';
import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { DB } from '../store/schema.ts';

export interface AuditEntry {
  /** dotted verb, e.g. `site.create`, `token.revoke`, `member.update` */
  action: string;
  orgId: string | null;
  targetType: string;
  targetId: string | null;
  /** Structured context. Never put secrets here. */
  details?: Record<string, unknown>;
}

/**
 * Record a mutation in the audit log. Call it inside the same transaction as the mutation
 * so the log and the change commit or roll back together.
 */
export async function audit(trx: Kysely<DB>, req: FastifyRequest | null, e: AuditEntry): Promise<void> {
  const p = req?.principal ?? { kind: 'anonymous' as const };
  const actor =
    p.kind === 'user'
      ? { type: 'user', id: p.userId, via: p.via }
      : p.kind === 'server'
        ? { type: 'server', id: p.serverId, via: 'server' }
        : req
          ? { type: 'anonymous', id: null, via: 'none' }
          : { type: 'system', id: null, via: 'system' };
  const ua = req?.headers['user-agent'];
  await trx
    .insertInto('audit_log')
    .values({
      id: newSortableId('aud'),
      at: isoNow(req?.server.ctx.clock),
      org_id: e.orgId,
      actor_type: actor.type,
      actor_id: actor.id,
      actor_via: actor.via,
      action: e.action,
      target_type: e.targetType,
      target_id: e.targetId,
      ip: req?.ip ?? null,
      user_agent: typeof ua === 'string' ? ua.slice(0, 300) : null,
      details: e.details ? JSON.stringify(e.details) : null,
    })
    .execute();
}
