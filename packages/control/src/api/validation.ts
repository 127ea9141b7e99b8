import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

/**
 * Two validators: bodies are checked strictly (no type coercion, unknown fields rejected by
 * `additionalProperties: false` in every body schema, never silently removed); query strings,
 * params and headers arrive as strings and are coerced to the schema's types.
 */
function makeAjv(opts: Options): Ajv {
  const ajv = new Ajv({ allErrors: false, strict: false, useDefaults: true, removeAdditional: false, ...opts });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  ajv.addKeyword('kind').addKeyword('modifier');
  return ajv;
}

const bodyAjv = makeAjv({ coerceTypes: false });
const stringsAjv = makeAjv({ coerceTypes: 'array' });

export const validatorCompiler: FastifySchemaCompiler<object> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? bodyAjv : stringsAjv;
  return ajv.compile(schema);
};
