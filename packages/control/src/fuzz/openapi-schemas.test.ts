import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createHarness, type Harness } from '../testing/harness.ts';
import { looseObjects, type OpenApiDoc, operations } from './openapi.ts';

/**
 * Schema hygiene read from the live OpenAPI document, so every route that lands is checked
 * without being listed here.
 */
let h: Harness;
let doc: OpenApiDoc;
before(async () => {
  h = await createHarness({ dialect: 'sqlite' });
  const r = await h.call(null, 'GET', '/api/openapi.json');
  assert.equal(r.statusCode, 200);
  doc = r.json();
});
after(() => h.close());

test('every request body schema rejects unknown fields (additionalProperties: false, recursively)', () => {
  const offenders: string[] = [];
  for (const op of operations(doc)) {
    if (!op.hasBody) continue;
    for (const where of looseObjects(op.body)) offenders.push(`${op.method} ${op.path} ${where}`);
  }
  assert.deepEqual(offenders, [], `body schemas that accept unknown fields:\n${offenders.join('\n')}`);
});

test('every body-carrying operation takes application/json only', () => {
  const offenders: string[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [m, op] of Object.entries(item)) {
      const types = Object.keys(op.requestBody?.content ?? {});
      if (types.length && (types.length !== 1 || types[0] !== 'application/json')) offenders.push(`${m} ${path}: ${types}`);
    }
  }
  assert.deepEqual(offenders, []);
});

test('every documented operation declares its error responses and a tag', () => {
  const offenders: string[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [m, op] of Object.entries(item as Record<string, { tags?: string[]; responses?: Record<string, unknown> }>)) {
      const codes = Object.keys(op.responses ?? {});
      if (!codes.some((c) => c.startsWith('2') || c === '304')) offenders.push(`${m} ${path}: no success response`);
      if (!codes.some((c) => c.startsWith('4'))) offenders.push(`${m} ${path}: no 4xx response`);
      if (!op.tags?.length) offenders.push(`${m} ${path}: no tag`);
    }
  }
  assert.deepEqual(offenders, [], offenders.join('\n'));
});

test('operations with path parameters document 404, and all but the public ones document 401', () => {
  const publicOps = new Set(['POST /api/v1/auth/login', 'POST /api/v1/agents/join']);
  const offenders: string[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [m, op] of Object.entries(item as Record<string, { responses?: Record<string, unknown> }>)) {
      const codes = Object.keys(op.responses ?? {});
      const key = `${m.toUpperCase()} ${path}`;
      if (!publicOps.has(key) && !codes.includes('401')) offenders.push(`${key}: no 401`);
      if (path.includes('{') && !codes.includes('404') && !path.startsWith('/api/v1/agents/')) offenders.push(`${key}: no 404`);
    }
  }
  assert.deepEqual(offenders, [], offenders.join('\n'));
});
