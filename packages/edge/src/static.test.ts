import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyStaticPolicy, DEFAULT_STATIC_EXTENSIONS, isStaticPath, type StaticPolicy } from './static.ts';

const policy: StaticPolicy = { maxAgeS: 600, immutable: false, extensions: DEFAULT_STATIC_EXTENSIONS };

test('static paths: by the last path segment extension, case-insensitive, query ignored', () => {
  for (const p of ['/a.css', '/wp-content/x/Logo.PNG', '/app.js?ver=6.4', '/static/version1/a.min.js']) {
    assert.ok(isStaticPath(policy, p), p);
  }
  for (const p of ['/', '/a.css/', '/a.css/page', '/.css', '/cart', '/x.php', '/index.html', '/p?file=a.css', '/a.cssx']) {
    assert.ok(!isStaticPath(policy, p), p);
  }
});

test('applyStaticPolicy fills a gap, never overrides', () => {
  assert.deepEqual(applyStaticPolicy(policy, '/a.css', 200, { 'content-type': 'text/css' }), {
    'content-type': 'text/css',
    'cache-control': 'public, max-age=600',
  });
  assert.equal(
    applyStaticPolicy({ ...policy, immutable: true }, '/a.css', 304, {})['cache-control'],
    'public, max-age=600, immutable',
  );
  for (const h of [{ 'cache-control': 'no-store' }, { expires: '0' }, { pragma: 'no-cache' }, { 'set-cookie': ['a=1'] }]) {
    assert.equal(
      applyStaticPolicy(policy, '/a.css', 200, h)['cache-control'],
      h['cache-control' as keyof typeof h],
      JSON.stringify(h),
    );
  }
  for (const s of [404, 500, 301])
    assert.equal(applyStaticPolicy(policy, '/a.css', s, {})['cache-control'], undefined, String(s));
  assert.equal(applyStaticPolicy({ ...policy, maxAgeS: 0 }, '/a.css', 200, {})['cache-control'], undefined);
  assert.equal(applyStaticPolicy(undefined, '/a.css', 200, {})['cache-control'], undefined);
});
