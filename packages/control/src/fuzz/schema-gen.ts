import fc from 'fast-check';
import type { Rng } from './prng.ts';

/** The subset of JSON Schema (as @fastify/swagger emits it from TypeBox) the generator understands. */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  patternProperties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  default?: unknown;
  $ref?: string;
  [k: string]: unknown;
}

/** Real ids by prefix (`site`, `env`, …) and a hint from a property name to a prefix. */
export interface IdSource {
  forProperty(name: string): string | undefined;
}

const patternCache = new Map<string, string[]>();

/** Strings matching a pattern, sampled once per pattern with fast-check (deterministic by seed). */
function fromPattern(pattern: string, rng: Rng, min: number, max: number): string {
  const key = `${pattern}|${min}|${max}`;
  let pool = patternCache.get(key);
  if (!pool) {
    let re: RegExp;
    try {
      re = new RegExp(pattern);
    } catch {
      return 'x';
    }
    try {
      pool = fc
        .sample(fc.stringMatching(re, { size: 'small' }), { seed: rng.fork(), numRuns: 40 })
        .filter((s) => s.length >= min && s.length <= max);
    } catch {
      pool = [];
    }
    if (pool.length === 0) pool = ['x'];
    patternCache.set(key, pool);
  }
  return rng.pick(pool);
}

function randomText(rng: Rng, min: number, max: number): string {
  const len = rng.range(min, Math.max(min, Math.min(max, min + 16)));
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_ ';
  let s = '';
  for (let i = 0; i < len; i++) s += alphabet[rng.int(alphabet.length)];
  return s;
}

let counter = 0;

/**
 * A value that satisfies `schema` as well as the generator can tell (patterns via
 * fast-check's stringMatching, formats, ranges, enums); property names that look like ids
 * get real ids so valid requests reach the handlers' deeper paths.
 */
export function generate(schema: JsonSchema | undefined, rng: Rng, ids: IdSource, prop = '', depth = 0): unknown {
  if (!schema || depth > 8) return null;
  if ('const' in schema) return schema.const;
  if (schema.enum) return rng.pick(schema.enum);
  const alts = schema.anyOf ?? schema.oneOf;
  if (alts?.length) return generate(rng.pick(alts), rng, ids, prop, depth + 1);
  if (schema.allOf?.length) {
    const merged: JsonSchema = {};
    for (const s of schema.allOf) Object.assign(merged, s);
    return generate(merged, rng, ids, prop, depth + 1);
  }
  let type = schema.type;
  if (Array.isArray(type)) type = rng.pick(type);
  if (!type) type = schema.properties ? 'object' : schema.items ? 'array' : 'string';
  switch (type) {
    case 'null':
      return null;
    case 'boolean':
      return rng.chance(0.5);
    case 'integer':
    case 'number': {
      const min = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : 0);
      const max = schema.maximum ?? (schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum - 1 : min + 1000);
      const v = rng.range(Math.ceil(min), Math.floor(max));
      return type === 'number' && rng.chance(0.3) ? v + 0.5 : v;
    }
    case 'string': {
      const min = schema.minLength ?? 0;
      const max = schema.maxLength ?? 64;
      const id = ids.forProperty(prop);
      if (id && (!schema.pattern || new RegExp(schema.pattern).test(id))) return id;
      if (schema.format === 'date-time') return new Date(Date.UTC(2026, rng.int(12), 1 + rng.int(28))).toISOString();
      if (schema.format === 'email') return `fuzz${++counter}-${rng.int(1e6)}@example.test`;
      if (schema.format === 'ipv4') return `10.${rng.int(256)}.${rng.int(256)}.${rng.int(256)}`;
      if (schema.format === 'uri') return `https://fuzz${rng.int(1e6)}.example.test/`;
      if (/host|domain/i.test(prop) && (!schema.pattern || schema.pattern.includes('253'))) {
        return `fz${++counter}-${rng.int(1e6)}.example.test`;
      }
      if (/^name$|slug/i.test(prop) && schema.pattern) {
        // Unique-ish names so creates mostly succeed instead of colliding.
        const cand = `fz${(++counter).toString(36)}${rng.int(1e6).toString(36)}`;
        if (new RegExp(schema.pattern).test(cand) && cand.length >= min && cand.length <= max) return cand;
      }
      if (/password/i.test(prop)) return `pw-${rng.int(1e9)}-correct-horse`;
      if (schema.pattern) return fromPattern(schema.pattern, rng, min, max);
      return randomText(rng, min, max);
    }
    case 'array': {
      const min = schema.minItems ?? 0;
      const max = Math.min(schema.maxItems ?? 3, min + 3);
      const n = rng.range(min, Math.max(min, max));
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) out.push(generate(schema.items, rng, ids, singular(prop), depth + 1));
      return schema.uniqueItems ? [...new Map(out.map((v) => [JSON.stringify(v), v])).values()] : out;
    }
    case 'object': {
      const out: Record<string, unknown> = {};
      const required = new Set(schema.required ?? []);
      for (const [k, s] of Object.entries(schema.properties ?? {})) {
        if (required.has(k) || rng.chance(0.5)) out[k] = generate(s, rng, ids, k, depth + 1);
      }
      return out;
    }
    default:
      return null;
  }
}

function singular(prop: string): string {
  return prop.endsWith('Ids') ? prop.slice(0, -1) : prop;
}

/** Resolve `#/components/schemas/X` references against the OpenAPI document, recursively. */
export function deref(
  schema: JsonSchema | undefined,
  doc: { components?: { schemas?: Record<string, JsonSchema> } },
  depth = 0,
): JsonSchema | undefined {
  if (!schema || depth > 20) return schema;
  if (schema.$ref) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    return deref(doc.components?.schemas?.[name], doc, depth + 1);
  }
  const out: JsonSchema = { ...schema };
  if (schema.properties) {
    out.properties = Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, deref(v, doc, depth + 1) ?? {}]));
  }
  if (schema.items) out.items = deref(schema.items, doc, depth + 1);
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const list = schema[key];
    if (list) out[key] = list.map((s) => deref(s, doc, depth + 1) ?? {});
  }
  return out;
}
