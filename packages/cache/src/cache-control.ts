import { type HeaderValue, joined } from './headers.ts';

/**
 * A parsed Cache-Control / Surrogate-Control header: directive name (lower-case) → argument
 * (`true` when the directive has none). Qualified forms (`private="Set-Cookie"`) keep their
 * argument but count as the unqualified directive (stricter, spec §4).
 */
export type Directives = Map<string, string | true>;

export function parseDirectives(v: HeaderValue | undefined): Directives {
  const out: Directives = new Map();
  const s = joined(v);
  if (!s) return out;
  // split on commas outside quotes
  let cur = '';
  let quoted = false;
  const parts: string[] = [];
  for (const ch of s) {
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  for (const p of parts) {
    const t = p.trim();
    if (!t) continue;
    const eq = t.indexOf('=');
    const name = (eq < 0 ? t : t.slice(0, eq)).trim().toLowerCase();
    if (!name || out.has(name)) continue;
    const arg =
      eq < 0
        ? true
        : t
            .slice(eq + 1)
            .trim()
            .replace(/^"|"$/g, '');
    out.set(name, arg);
  }
  return out;
}

/** Delta-seconds argument of a directive, or undefined when absent/invalid. */
export function seconds(d: Directives, name: string): number | undefined {
  const v = d.get(name);
  if (typeof v !== 'string' || !/^\d+$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : 2 ** 31;
}
