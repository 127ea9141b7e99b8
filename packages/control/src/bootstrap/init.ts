import { type Clock, isoNow, newId, systemClock } from '@triplane/kernel';
import { audit } from '../audit/audit.ts';
import { issueApiToken } from '../identity/tokens.ts';
import type { Store } from '../store/store.ts';

export interface InitOptions {
  ownerEmail?: string;
  ownerName?: string;
  orgSlug?: string;
  orgName?: string;
  clock?: Clock;
}

export interface InitResult {
  created: boolean;
  migrationsApplied: string[];
  orgId: string;
  userId: string;
  /** Only when created: the owner's API token, shown once. */
  token?: string;
}

/**
 * Create or migrate the store and make the owner organization, the owner user (a platform
 * superuser) and one API token for them. Idempotent: when an owner already exists nothing
 * new is created and no token is returned (tokens are stored hashed and can't be shown again).
 */
export async function initPlatform(store: Store, o: InitOptions = {}): Promise<InitResult> {
  const clock = o.clock ?? systemClock;
  const { applied } = await store.migrate();
  const existing = await store.db
    .selectFrom('users')
    .innerJoin('memberships', 'memberships.user_id', 'users.id')
    .select(['users.id as user_id', 'memberships.org_id'])
    .where('users.is_superuser', '=', 1)
    .where('memberships.role', '=', 'owner')
    .orderBy('users.created_at')
    .executeTakeFirst();
  if (existing) {
    return { created: false, migrationsApplied: applied, orgId: existing.org_id, userId: existing.user_id };
  }
  const now = isoNow(clock);
  const orgId = newId('org');
  const userId = newId('usr');
  let token = '';
  await store.transaction(async (trx) => {
    await trx
      .insertInto('organizations')
      .values({
        id: orgId,
        slug: o.orgSlug ?? 'default',
        name: o.orgName ?? 'Default organization',
        created_at: now,
        updated_at: now,
      })
      .execute();
    await trx
      .insertInto('users')
      .values({
        id: userId,
        email: (o.ownerEmail ?? 'owner@triplane.local').toLowerCase(),
        name: o.ownerName ?? 'Owner',
        password_hash: null,
        is_superuser: 1,
        disabled: 0,
        created_at: now,
        updated_at: now,
      })
      .execute();
    await trx
      .insertInto('memberships')
      .values({ id: newId('mem'), org_id: orgId, user_id: userId, site_id: null, scope: '*', role: 'owner', created_at: now })
      .execute();
    token = (await issueApiToken(trx, { userId, name: 'init', nowMs: clock.now() })).token;
    await audit(trx, null, {
      action: 'platform.init',
      orgId,
      targetType: 'organization',
      targetId: orgId,
      details: { ownerUserId: userId },
    });
  });
  return { created: true, migrationsApplied: applied, orgId, userId, token };
}
