import { type HeaderMap, joined } from './headers.ts';

/**
 * Vary handling (spec §1.8). Variant selection compares normalised request header values
 * byte for byte; `Accept-Encoding` is normalised to `gzip` or absent (`RFC2616_Req_Gzip`).
 */
export function normaliseAcceptEncoding(v: string | undefined): string | undefined {
  if (!v) return undefined;
  for (const part of v.split(',')) {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== 'x-gzip') continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (q === undefined || Number(q.slice(2)) > 0) return 'gzip';
  }
  return undefined;
}

/** Header names listed by a response's Vary (lower-case), `null` for `Vary: *`, `[]` for none. */
export function varyNames(v: HeaderMap[string]): string[] | null {
  const s = joined(v);
  if (!s) return [];
  const names = s
    .split(',')
    .map((n) => n.trim().toLowerCase())
    .filter(Boolean);
  return names.includes('*') ? null : [...new Set(names)].sort();
}

/** The value the variant is selected by, for one named request header. */
export function varyValue(reqHeaders: HeaderMap, name: string): string {
  return joined(reqHeaders[name]) ?? '\u0000absent';
}

/** A stable string identifying which variant a request selects under a given Vary list. */
export function variantId(reqHeaders: HeaderMap, names: readonly string[]): string {
  return names.map((n) => `${n}:${varyValue(reqHeaders, n)}`).join('\n');
}
