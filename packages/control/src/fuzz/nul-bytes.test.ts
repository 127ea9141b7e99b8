/**
 * NUL (U+0000) in every string a route takes, on both dialects. SQLite stores NUL in text;
 * PostgreSQL refuses it at the protocol level (error 22021) — which must come back as a 400
 * with a stable code, never a 500. Routes and fields come from the live OpenAPI document.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHarness } from '../testing/harness.ts';
import { type OpenApiDoc, operations } from './openapi.ts';
import { Rng } from './prng.ts';
import { generate, type JsonSchema } from './schema-gen.ts';

const NUL = 'a\u0000b';

/** Paths of string-typed leaves in a generated value. */
function stringPaths(v: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (typeof v === 'string') return [at];
  if (v && typeof v === 'object')
    return Object.entries(v).flatMap(([k, c]) => stringPaths(c, [...at, Array.isArray(v) ? Number(k) : k]));
  return [];
}

function withNul(v: unknown, path: (string | number)[]): unknown {
  const copy = structuredClone(v) as Record<string | number, unknown>;
  let cur = copy;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  cur[path[path.length - 1] as string | number] = NUL;
  return copy;
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  test(`${dialect}: NUL characters in any body field or query parameter never cause a 5xx`, async () => {
    const h = await createHarness({ dialect });
    try {
      const doc = (await h.call(null, 'GET', '/api/openapi.json')).json<OpenApiDoc>();
      const rng = new Rng(7);
      const ids = {
        forProperty: (name: string) => (name === 'orgId' ? h.orgId : name === 'userId' ? h.owner.userId : undefined),
      };
      const failures: string[] = [];
      let sent = 0;
      for (const op of operations(doc)) {
        if (op.pathParams.length) continue; // ids would mostly 404 before the store is reached
        const calls: Array<{ url: string; body?: unknown }> = [];
        if (op.hasBody && op.body) {
          const valid = generate(op.body, rng, ids);
          for (const p of stringPaths(valid)) calls.push({ url: op.path, body: withNul(valid, p) });
        }
        for (const q of op.queryParams) {
          const s = q.schema as JsonSchema | undefined;
          if (s?.type === 'string' || !s?.type) calls.push({ url: `${op.path}?${q.name}=${encodeURIComponent(NUL)}` });
        }
        for (const c of calls) {
          const r = await h.call(h.owner.token, op.method as 'GET', c.url, c.body);
          sent++;
          if (r.statusCode >= 500) failures.push(`${op.method} ${c.url} ${JSON.stringify(c.body)} → ${r.statusCode} ${r.body}`);
          else if (r.statusCode >= 400) assert.match(r.json().error.code, /^TRIPLANE_ERR_/);
        }
      }
      assert.ok(sent > 10, `sent ${sent}`);
      assert.deepEqual(failures, []);
      assert.deepEqual(await h.store.integrityCheck(), { ok: true, problems: [] });
    } finally {
      await h.close();
    }
  });
}
