/**
 * JSON request bodies → ARGS_POST. Text is UTF-8 decoded for parsing and every name/value is
 * re-encoded to UTF-8 bytes (latin1 string). Nested keys join with `.` (`user.name`), array
 * elements use their index (`items.0`); scalars become their JSON text (`true`, `12`, `` for
 * null). Depth beyond the limit, or malformed JSON, is a body error.
 */
import type { Arg } from './types.ts';

export interface JsonResult {
  args: Arg[];
  error: string | undefined;
}

export function parseJsonBody(bytes: string, depthLimit: number, argLimit: number): JsonResult {
  const args: Arg[] = [];
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes, 'latin1').toString('utf8'));
  } catch (e) {
    return { args, error: `JSON parsing error: ${(e as Error).message}` };
  }
  const enc = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
  let error: string | undefined;
  const walk = (v: unknown, prefix: string, depth: number): void => {
    if (error) return;
    if (depth > depthLimit) {
      error = 'JSON depth limit exceeded';
      return;
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) walk(v[i], prefix === '' ? String(i) : `${prefix}.${i}`, depth + 1);
      return;
    }
    if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) walk(x, prefix === '' ? k : `${prefix}.${k}`, depth + 1);
      return;
    }
    if (args.length >= argLimit) return;
    const value = v === null ? '' : typeof v === 'string' ? v : String(v);
    args.push({ name: enc(prefix === '' ? 'json' : prefix), value: enc(value) });
  };
  walk(doc, '', 0);
  return { args, error };
}
