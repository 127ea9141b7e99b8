import { TriplaneError } from '@triplane/kernel';
import type { Role } from '@triplane/spec';
import type { FastifyRequest } from 'fastify';
import type { Kysely, Selectable } from 'kysely';
import type { DB, DomainsTable, EnvironmentsTable, SitesTable } from '../../../store/schema.ts';
import { requireSiteRole } from '../../auth/authorize.ts';

/**
 * Load an environment (or a domain) and check the caller's role on its site. Unknown ids and
 * ids the caller can't see are both 404, so other organizations' ids can't be probed.
 */
export async function requireEnvironmentRole(
  req: FastifyRequest,
  environmentId: string,
  min: Role,
): Promise<{ env: Selectable<EnvironmentsTable>; site: Selectable<SitesTable>; role: Role }> {
  const env = await req.server.ctx.store.db
    .selectFrom('environments')
    .selectAll()
    .where('id', '=', environmentId)
    .executeTakeFirst();
  if (!env) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'environment not found');
  try {
    const { site, role } = await requireSiteRole(req, env.site_id, min);
    return { env, site, role };
  } catch (e) {
    if (e instanceof TriplaneError && e.code === 'TRIPLANE_ERR_NOT_FOUND') {
      throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'environment not found');
    }
    throw e;
  }
}

export async function requireDomainRole(
  req: FastifyRequest,
  domainId: string,
  min: Role,
): Promise<{ domain: Selectable<DomainsTable>; env: Selectable<EnvironmentsTable>; site: Selectable<SitesTable>; role: Role }> {
  const domain = await req.server.ctx.store.db.selectFrom('domains').selectAll().where('id', '=', domainId).executeTakeFirst();
  if (!domain) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'domain not found');
  try {
    const r = await requireEnvironmentRole(req, domain.environment_id, min);
    return { domain, ...r };
  } catch (e) {
    if (e instanceof TriplaneError && e.code === 'TRIPLANE_ERR_NOT_FOUND')
      throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'domain not found');
    throw e;
  }
}

/** `?confirm=<name>` must repeat the name of what is deleted. */
export function requireConfirm(confirm: string | undefined, name: string, what: string): void {
  if (confirm !== name) {
    throw new TriplaneError('TRIPLANE_ERR_UNPROCESSABLE', `confirm the deletion with ?confirm=<the ${what}'s name>`, {
      expected: 'name',
    });
  }
}

/** Opaque list cursors: base64url of a JSON array of the last row's sort key. */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string, arity: number): string[] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === arity && v.every((x) => typeof x === 'string')) return v;
  } catch {
    // fall through
  }
  throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'querystring.cursor is not a cursor this API returned');
}

/** The `Idempotency-Key` request header, if any (printable ASCII, at most 200 characters). */
export function idempotencyKey(req: FastifyRequest): string | undefined {
  const v = req.headers['idempotency-key'];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(v)) {
    throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'Idempotency-Key must be 1–200 printable ASCII characters');
  }
  return v;
}

/** A site's environments, oldest first (the order every listing uses). */
export function environmentsOfSite(db: Kysely<DB>, siteId: string): Promise<Selectable<EnvironmentsTable>[]> {
  return db.selectFrom('environments').selectAll().where('site_id', '=', siteId).orderBy('created_at').orderBy('id').execute();
}
