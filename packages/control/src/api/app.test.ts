import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createHarness, type Harness } from '../testing/harness.ts';

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(() => h.close());

test('healthz, readyz, metrics and the OpenAPI document answer without auth', async () => {
  assert.equal((await h.call(null, 'GET', '/healthz')).statusCode, 200);
  assert.equal((await h.call(null, 'GET', '/readyz')).json().status, 'ready');
  const m = await h.call(null, 'GET', '/metrics');
  assert.equal(m.statusCode, 200);
  assert.match(m.body, /triplane_api_requests_total/);
  const doc = (await h.call(null, 'GET', '/api/openapi.json')).json();
  assert.equal(doc.openapi, '3.1.0');
});

test('unknown routes get the error shape with a stable code', async () => {
  const r = await h.call(h.owner.token, 'GET', '/api/v1/nope');
  assert.equal(r.statusCode, 404);
  assert.equal(r.json().error.code, 'TRIPLANE_ERR_NOT_FOUND');
});

test('a wrong or malformed bearer token is 401, never anonymous', async () => {
  for (const auth of ['Bearer tpl_wrongwrongwrongwrong', 'Basic abc', 'Bearer x']) {
    const r = await h.app.inject({ method: 'GET', url: '/api/v1/nope', headers: { authorization: auth } });
    assert.equal(r.statusCode, 401, auth);
    assert.equal(r.json().error.code, 'TRIPLANE_ERR_UNAUTHENTICATED');
    assert.doesNotMatch(r.body, /at .*\.ts/);
  }
});
