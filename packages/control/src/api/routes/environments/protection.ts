import { randomBytes, scrypt } from 'node:crypto';
import { promisify } from 'node:util';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { isoNow, TriplaneError } from '@triplane/kernel';
import { Environment, Id, ProtectionRequest } from '@triplane/spec';
import type { FastifyInstance } from 'fastify';
import { audit } from '../../../audit/audit.ts';
import { bumpRevision } from '../../../store/store.ts';
import { errorResponses } from '../../errors.ts';
import { requireEnvironmentRole } from '../sites/access.ts';
import { toEnvironment } from '../sites/dto.ts';

const scryptAsync = promisify(scrypt) as (pw: string, salt: Buffer, len: number, opts: object) => Promise<Buffer>;
const EnvParams = Type.Object({ id: Id }, { additionalProperties: false });

// N=2^15, r=8, p=1 (32 MiB, ~50 ms): the edge pays this once per client credential (it caches
// successful verifications), so the cost is the one an offline guesser pays per guess.
const SCRYPT = { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

/**
 * The stored and shipped form of a Basic auth password: `scrypt:N:r:p:salt:key` (base64), the
 * format packages/spec edge-snapshot.ts BASIC_AUTH_HASH_PATTERN names and the edge verifies.
 */
export async function hashBasicAuthPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password.normalize('NFKC'), salt, 32, SCRYPT);
  return `scrypt:${SCRYPT.N}:${SCRYPT.r}:${SCRYPT.p}:${salt.toString('base64')}:${key.toString('base64')}`;
}

/**
 * PUT/DELETE /environments/{id}/protection (packages/spec api/protection.ts): HTTP Basic auth at
 * the edge. Developers and up. Each change bumps the desired-state revision, so long-polling edges
 * get the new snapshot at once; the audit entry names the user, never the password or its hash.
 */
export function registerProtectionRoutes(base: FastifyInstance): void {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { store } = app.ctx;

  const change = async (
    req: Parameters<typeof requireEnvironmentRole>[0],
    id: string,
    protection: { user: string; hash: string } | null,
  ) => {
    const { env, site } = await requireEnvironmentRole(req, id, 'developer');
    return store.transaction(async (trx) => {
      const cur = await trx
        .selectFrom('environments')
        .select(['id', 'status', 'protection'])
        .where('id', '=', env.id)
        .executeTakeFirst();
      if (!cur) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'environment not found');
      if (cur.status === 'deleting') throw new TriplaneError('TRIPLANE_ERR_CONFLICT', 'the environment is being deleted');
      // unprotecting an unprotected environment changes nothing the edges see: no new revision
      // (but every successful mutation is audited, a no-op included)
      if (protection !== null || cur.protection !== null) {
        await trx
          .updateTable('environments')
          .set({ protection: protection ? JSON.stringify(protection) : null, updated_at: isoNow(app.ctx.clock) })
          .where('id', '=', cur.id)
          .execute();
        await bumpRevision(trx);
      }
      await audit(trx, req, {
        action: protection ? 'environment.protect' : 'environment.unprotect',
        orgId: site.org_id,
        targetType: 'environment',
        targetId: cur.id,
        details: protection ? { user: protection.user } : { wasProtected: cur.protection !== null },
      });
      return toEnvironment(await trx.selectFrom('environments').selectAll().where('id', '=', cur.id).executeTakeFirstOrThrow());
    });
  };

  app.put(
    '/environments/:id/protection',
    {
      schema: {
        tags: ['environments'],
        summary: 'Password-protect the environment at the edge (HTTP Basic auth on all its hosts)',
        description: 'The password is stored as an scrypt hash only; the Environment shows `protection: { user }`.',
        params: EnvParams,
        body: ProtectionRequest,
        response: { 200: Environment, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req) => {
      // role first: an unauthorised caller must not make the server spend an scrypt
      await requireEnvironmentRole(req, req.params.id, 'developer');
      const hash = await hashBasicAuthPassword(req.body.password);
      return change(req, req.params.id, { user: req.body.user, hash });
    },
  );

  app.delete(
    '/environments/:id/protection',
    {
      schema: {
        tags: ['environments'],
        summary: "Remove the environment's password protection (idempotent)",
        params: EnvParams,
        response: { 200: Environment, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req) => change(req, req.params.id, null),
  );
}
