import { isoNow } from '@triplane/kernel';
import type { Store } from '../store.ts';

/** One read-modify-write transaction: lost updates show up as a revision short of the count. */
export async function readModifyWrite(store: Store, tag: string, auditId: string): Promise<void> {
  await store.transaction(async (trx) => {
    const row = await trx.selectFrom('state_revision').select('revision').where('id', '=', 1).executeTakeFirstOrThrow();
    // Yield between the read and the write, as real handlers do.
    await new Promise((r) => setImmediate(r));
    await trx
      .updateTable('state_revision')
      .set({ revision: Number(row.revision) + 1 })
      .where('id', '=', 1)
      .execute();
    await trx
      .insertInto('audit_log')
      .values({
        id: auditId,
        at: isoNow(),
        org_id: null,
        actor_type: 'system',
        actor_id: null,
        actor_via: 'system',
        action: 'conformance.write',
        target_type: 'writer',
        target_id: tag,
        ip: null,
        user_agent: null,
        details: null,
      })
      .execute();
  });
}
