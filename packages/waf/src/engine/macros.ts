/**
 * `%{…}` macro expansion: `%{tx.anomaly_score}`, `%{MATCHED_VAR}`, `%{rule.msg}`,
 * `%{request_headers.host}`. Names are case-insensitive; an unresolvable macro expands to
 * the empty string. Texts come from the configuration, so each is parsed once into literal
 * parts and pre-resolved variable references.
 */
import { type Variable, variables } from '../variables/registry.ts';
import type { Transaction } from './transaction.ts';

const MACRO = /%\{([^}]+)\}/g;

/** a literal, or a variable reference (key lower-cased); null = unknown variable (expands to '') */
type Part = string | { v: Variable; key: string | undefined } | null;

const compiled = new Map<string, Part[]>();

function parse(text: string): Part[] {
  const parts: Part[] = [];
  let last = 0;
  for (const m of text.matchAll(MACRO)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    const ref = m[1]!;
    const dot = ref.indexOf('.');
    const v = variables.get((dot < 0 ? ref : ref.slice(0, dot)).toUpperCase());
    parts.push(v ? { v, key: dot < 0 ? undefined : ref.slice(dot + 1).toLowerCase() } : null);
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

export function expandMacros(tx: Transaction, text: string): string {
  if (text.indexOf('%{') < 0) return text;
  let parts = compiled.get(text);
  if (parts === undefined) {
    // bounded anyway: texts are rule data, but ctl/redirect values may be many
    if (compiled.size >= 10_000) compiled.clear();
    parts = parse(text);
    compiled.set(text, parts);
  }
  let out = '';
  for (const p of parts) {
    if (typeof p === 'string') out += p;
    else if (p !== null) out += resolve(tx, p.v, p.key) ?? '';
  }
  return out;
}

function resolve(tx: Transaction, v: Variable, key: string | undefined): string | undefined {
  if (key === undefined) {
    if (v.value) return v.value(tx);
    return v.entries?.(tx)[0]?.value;
  }
  if (v.persistent === 'tx') return tx.txVars.get(key)?.value;
  if (v.lookup) return v.lookup(tx, key)[0]?.value;
  return undefined;
}

export function resolveMacro(tx: Transaction, ref: string): string | undefined {
  const dot = ref.indexOf('.');
  const v = variables.get((dot < 0 ? ref : ref.slice(0, dot)).toUpperCase());
  if (!v) return undefined;
  return resolve(tx, v, dot < 0 ? undefined : ref.slice(dot + 1).toLowerCase());
}
