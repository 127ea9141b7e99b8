import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scalar, toYaml } from './yaml.ts';

test('scalars: plain when unambiguous, JSON-quoted otherwise', () => {
  assert.equal(scalar('nginx'), 'nginx');
  assert.equal(scalar('localhost/triplane/php'), 'localhost/triplane/php');
  assert.equal(scalar('localhost/triplane/php:abc'), '"localhost/triplane/php:abc"');
  for (const s of ['1', '0.5', '1e3', 'true', 'no', 'On', 'null', '~', '', '-x', 'a b', 'a: b', '#x', '0x1f', '.inf']) {
    assert.equal(scalar(s), JSON.stringify(s), s);
  }
  assert.equal(scalar(8080), '8080');
  assert.equal(scalar(true), 'true');
});

test('nested maps and lists in Kubernetes style', () => {
  const y = toYaml({ a: 1, b: [{ c: 'x', d: ['p', 'q'] }, 'r'], e: {}, f: [], g: undefined });
  assert.equal(y, 'a: 1\nb:\n- c: x\n  d:\n  - p\n  - q\n- r\ne: {}\nf: []\n');
});
