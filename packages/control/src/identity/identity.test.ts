import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isoNow, newId } from '@triplane/kernel';
import type { Store } from '../store/store.ts';
import { openTestStore } from '../testing/harness.ts';
import { assertOwnerRemains, lockOrg } from './org-guard.ts';
import { hit, purgeExpired, reset } from './rate-limit.ts';
import { DIALECTS } from './test-support.ts';

for (const dialect of DIALECTS) {
  describe(`identity store helpers (${dialect})`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let orgId: string;

    before(async () => {
      ({ store, cleanup } = await openTestStore(dialect));
      orgId = newId('org');
      const now = isoNow();
      await store.db
        .insertInto('organizations')
        .values({ id: orgId, slug: 'o', name: 'O', created_at: now, updated_at: now })
        .execute();
    });
    after(() => cleanup());

    test('fixed window: counts per key, blocks over the limit, restarts in the next window', async () => {
      const w = { limit: 2, windowMs: 10_000 };
      const t0 = 1_000_000_000_000; // aligned to the window
      assert.deepEqual(await hit(store.db, 'k:a', w, t0 + 1000), { allowed: true, count: 1, retryAfterSeconds: 9 });
      assert.equal((await hit(store.db, 'k:a', w, t0 + 2000)).allowed, true);
      const third = await hit(store.db, 'k:a', w, t0 + 9500);
      assert.deepEqual(third, { allowed: false, count: 3, retryAfterSeconds: 1 });
      assert.equal((await hit(store.db, 'k:b', w, t0 + 9500)).count, 1, 'keys are independent');
      assert.deepEqual(await hit(store.db, 'k:a', w, t0 + 10_000), { allowed: true, count: 1, retryAfterSeconds: 10 });
      await reset(store.db, 'k:a');
      assert.equal((await hit(store.db, 'k:a', w, t0 + 10_001)).count, 1);
      await purgeExpired(store.db, 'k:', w.windowMs, t0 + 10_001);
      const keys = (await store.db.selectFrom('rate_limits').select('key').execute()).map((r) => r.key).sort();
      assert.deepEqual(keys, ['k:a'], 'k:b belonged to the ended window');
      await hit(store.db, 'other:x', w, t0);
      await purgeExpired(store.db, 'k:', w.windowMs, t0 + 50_000);
      const left = (await store.db.selectFrom('rate_limits').select('key').execute()).map((r) => r.key);
      assert.deepEqual(left, ['other:x'], 'only keys under the prefix are purged');
    });

    test('lockOrg serializes transactions on one organization, and 404s a missing one', async () => {
      const order: string[] = [];
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let locked!: () => void;
      const aLocked = new Promise<void>((r) => {
        locked = r;
      });
      const a = store.transaction(async (trx) => {
        await lockOrg(trx, orgId);
        locked();
        await gate;
        order.push('a-commits');
      });
      await aLocked;
      const b = store.transaction(async (trx) => {
        await lockOrg(trx, orgId);
        order.push('b-locked');
      });
      await sleep(150);
      order.push('release');
      release();
      await Promise.all([a, b]);
      assert.deepEqual(order, ['release', 'a-commits', 'b-locked']);
      await assert.rejects(
        store.transaction((trx) => lockOrg(trx, 'org_0000000000000000')),
        (e: { code?: string }) => e.code === 'TRIPLANE_ERR_NOT_FOUND',
      );
    });

    test('assertOwnerRemains counts org-wide owners only', async () => {
      await assert.rejects(
        store.transaction((trx) => assertOwnerRemains(trx, orgId)),
        (e: { code?: string }) => e.code === 'TRIPLANE_ERR_CONFLICT',
      );
      const userId = newId('usr');
      const now = isoNow();
      await store.db
        .insertInto('users')
        .values({
          id: userId,
          email: 'u@example.test',
          name: 'u',
          password_hash: null,
          is_superuser: 0,
          disabled: 0,
          created_at: now,
          updated_at: now,
        })
        .execute();
      await store.db
        .insertInto('memberships')
        .values({ id: newId('mem'), org_id: orgId, user_id: userId, site_id: null, scope: '*', role: 'owner', created_at: now })
        .execute();
      await store.transaction((trx) => assertOwnerRemains(trx, orgId));
    });
  });
}
