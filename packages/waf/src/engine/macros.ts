/**
 * `%{…}` macro expansion: `%{tx.anomaly_score}`, `%{MATCHED_VAR}`, `%{rule.msg}`,
 * `%{request_headers.host}`. Names are case-insensitive; an unresolvable macro expands to
 * the empty string.
 */
import { variables } from '../variables/registry.ts';
import type { Transaction } from './transaction.ts';

const MACRO = /%\{([^}]+)\}/g;

export function expandMacros(tx: Transaction, text: string): string {
  if (text.indexOf('%{') < 0) return text;
  return text.replace(MACRO, (_m, ref: string) => resolveMacro(tx, ref) ?? '');
}

export function resolveMacro(tx: Transaction, ref: string): string | undefined {
  const dot = ref.indexOf('.');
  const name = (dot < 0 ? ref : ref.slice(0, dot)).toUpperCase();
  const key = dot < 0 ? undefined : ref.slice(dot + 1).toLowerCase();
  const v = variables.get(name);
  if (!v) return undefined;
  if (key === undefined) {
    if (v.value) return v.value(tx);
    return v.entries?.(tx)[0]?.value;
  }
  if (v.lookup) return v.lookup(tx, key)[0]?.value;
  return undefined;
}
