import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from './backoff.ts';

test('backoff grows exponentially and stays within the cap', () => {
  const opts = { baseMs: 1000, capMs: 8000 };
  assert.equal(backoffDelay(1, { ...opts, random: () => 1 }), 1000);
  assert.equal(backoffDelay(3, { ...opts, random: () => 1 }), 4000);
  assert.equal(backoffDelay(10, { ...opts, random: () => 1 }), 8000);
  assert.equal(backoffDelay(10, { ...opts, random: () => 0 }), 500);
  for (let a = 1; a < 50; a++) {
    const d = backoffDelay(a, opts);
    assert.ok(d >= 500 && d <= 8000, `attempt ${a}: ${d}`);
  }
});
