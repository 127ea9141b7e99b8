import { conflict, notFound } from '@triplane/kernel';
import type { Kysely } from 'kysely';
import type { DB } from '../store/schema.ts';

/**
 * Serialize membership changes of one organization: a no-op update of its row (a non-key column, so foreign-key checks
 * of other writers aren't blocked) takes the row lock on PostgreSQL (SQLite's BEGIN IMMEDIATE already serializes writers). Without
 * it two owners demoting each other at the same moment could both see "another owner
 * remains" and leave the organization with none. Also the existence check: 404 if gone.
 */
export async function lockOrg(trx: Kysely<DB>, orgId: string): Promise<void> {
  const r = await trx
    .updateTable('organizations')
    .set((eb) => ({ updated_at: eb.ref('updated_at') }))
    .where('id', '=', orgId)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) === 0) throw notFound('organization');
}

/**
 * After a change inside the transaction: the organization must keep at least one
 * org-wide owner, or it would be unmanageable except by platform administrators.
 */
export async function assertOwnerRemains(trx: Kysely<DB>, orgId: string): Promise<void> {
  const row = await trx
    .selectFrom('memberships')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('org_id', '=', orgId)
    .where('scope', '=', '*')
    .where('role', '=', 'owner')
    .executeTakeFirstOrThrow();
  if (Number(row.n) === 0) throw conflict('an organization must keep at least one owner', { orgId });
}
