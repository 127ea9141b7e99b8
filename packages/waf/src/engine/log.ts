/** ModSecurity-style error-log lines: `ModSecurity: Warning. Matched "…" [id "942100"] [msg "…"] …`. */
import type { MatchEvent, Transaction } from './transaction.ts';

/** log_escape: quotes and backslashes escaped, bytes outside printable ASCII as \xHH. */
export function logEscape(s: string, max = 1024): string {
  const cut = s.length > max ? s.slice(0, max) + '...' : s;
  return cut.replace(/[^\x20-\x7e]|["\\]/g, (c) => {
    if (c === '"' || c === '\\') return '\\' + c;
    return '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0');
  });
}

export function formatLogLine(tx: Transaction, e: MatchEvent): string {
  const head = e.enforced
    ? `ModSecurity: Access denied with code ${tx.intervention?.status ?? 403} (phase ${e.phase}).`
    : 'ModSecurity: Warning.';
  let s = `${head} ${e.match} [file "${e.file}"] [line "${e.line}"] [id "${e.ruleId}"]`;
  if (e.msg !== '') s += ` [msg "${logEscape(e.msg)}"]`;
  if (e.data !== '') s += ` [data "${logEscape(e.data)}"]`;
  if (e.severity !== undefined) s += ` [severity "${e.severity}"]`;
  if (e.ver !== undefined) s += ` [ver "${logEscape(e.ver)}"]`;
  for (const t of e.tags) s += ` [tag "${logEscape(t)}"]`;
  s += ` [hostname "${logEscape(tx.hostHeader())}"] [uri "${logEscape(tx.path)}"] [unique_id "${tx.req.uniqueId}"]`;
  return s;
}
