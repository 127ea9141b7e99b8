import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openTestStore } from '../testing/harness.ts';
import { bumpRevision, currentRevision } from './store.ts';

for (const dialect of ['sqlite', 'postgres'] as const) {
  test(`${dialect}: migrations apply once, revision bumps, integrity is clean`, async () => {
    const { store, cleanup } = await openTestStore(dialect);
    try {
      assert.deepEqual((await store.migrate()).applied, [], 'second migrate applies nothing');
      const r0 = await currentRevision(store.db);
      assert.equal(await store.transaction((t) => bumpRevision(t)), r0 + 1);
      assert.deepEqual(await store.integrityCheck(), { ok: true, problems: [] });
    } finally {
      await cleanup();
    }
  });
}
