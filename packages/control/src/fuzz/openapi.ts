import { deref, type JsonSchema } from './schema-gen.ts';

export interface OpenApiDoc {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

export interface OpenApiOperation {
  parameters?: Array<{ in: string; name: string; required?: boolean; schema?: JsonSchema }>;
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  responses?: Record<string, unknown>;
}

export interface Operation {
  method: string;
  /** OpenAPI path template, e.g. `/api/v1/sites/{id}`. */
  path: string;
  pathParams: Array<{ name: string; schema: JsonSchema | undefined }>;
  queryParams: Array<{ name: string; required: boolean; schema: JsonSchema | undefined }>;
  body: JsonSchema | undefined;
  hasBody: boolean;
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'];

/** Every documented operation of the live OpenAPI document, with $refs resolved. */
export function operations(doc: OpenApiDoc): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [m, op] of Object.entries(item)) {
      if (!METHODS.includes(m)) continue;
      const params = op.parameters ?? [];
      const content = op.requestBody?.content;
      const body = content?.['application/json']?.schema;
      out.push({
        method: m.toUpperCase(),
        path,
        pathParams: params.filter((p) => p.in === 'path').map((p) => ({ name: p.name, schema: deref(p.schema, doc) })),
        queryParams: params
          .filter((p) => p.in === 'query')
          .map((p) => ({ name: p.name, required: !!p.required, schema: deref(p.schema, doc) })),
        body: deref(body, doc),
        hasBody: !!content,
      });
    }
  }
  return out;
}

/**
 * Places in a body schema where unknown fields would be accepted: every object schema must
 * say `additionalProperties: false`. Returns JSON-pointer-like paths of offenders.
 */
export function looseObjects(schema: JsonSchema | undefined, at = '#'): string[] {
  if (!schema || typeof schema !== 'object') return [];
  const out: string[] = [];
  const isObject =
    schema.type === 'object' || (Array.isArray(schema.type) && schema.type.includes('object')) || !!schema.properties;
  if (isObject && schema.additionalProperties !== false) out.push(at);
  for (const [k, v] of Object.entries(schema.properties ?? {})) out.push(...looseObjects(v, `${at}/properties/${k}`));
  for (const [k, v] of Object.entries(schema.patternProperties ?? {}))
    out.push(...looseObjects(v, `${at}/patternProperties/${k}`));
  if (schema.items) out.push(...looseObjects(schema.items, `${at}/items`));
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    out.push(...looseObjects(schema.additionalProperties, `${at}/additionalProperties`));
  }
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    (schema[key] ?? []).forEach((s, i) => {
      out.push(...looseObjects(s, `${at}/${key}/${i}`));
    });
  }
  return out;
}
