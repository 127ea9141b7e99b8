/**
 * Heuristic SQLi/XSS detection — NOT libinjection. Only for callers that explicitly opt in
 * (`setInjectionDetector(heuristicDetectorNotLibinjection)`) on a host without Debian's
 * libmodsecurity3; its verdicts and pseudo fingerprints differ from libinjection's. Kept
 * deliberately narrow to limit false positives on ordinary text. Inputs are latin1 byte strings.
 */
import type { InjectionDetector, SqliResult } from './types.ts';

const SQLI: Array<[string, RegExp]> = [
  // quote breakout followed by a boolean operator: 1' or '1'='1, " or 1=1 --
  ['s&sos', /['"`]\s*\)?\s*(?:or|and|xor|\|\||&&)\s*\(?\s*['"`\d(@-]/i],
  // tautology on numbers: 1 or 1=1, 1) and 2>1
  ['1&1o1', /(?:^|[\s(])-?\d+\s*\)?\s+(?:or|and|xor)\s+\(?\s*-?\d+\s*(?:=|<>|!=|<|>|like\b)/i],
  ['1Uk', /\bunion\b[\s(/*!]+(?:all\s+|distinct\s+)?\(?\s*select\b/i],
  // select … from, after a quote/paren/semicolon or with a SQL-shaped select list
  ['Eok', /(?:['"`);]\s*select\b[\s\S]{1,200}?\bfrom\b|\bselect\s+(?:\*|[\w.]+\s*,|@@|\w+\s*\()[\s\S]{0,200}?\bfrom\b)/i],
  ['s;E', /['"`)\d]\s*;\s*(?:drop|delete|insert|update|select|shutdown|exec|declare|create|alter|truncate)\b/i],
  ['sc', /['"`]\s*\)?\s*(?:--|#|\/\*)/],
  [
    'f(',
    /\b(?:(?:sleep|benchmark|pg_sleep|extractvalue|updatexml|load_file|concat|group_concat)\s*\(|waitfor\s+delay\b|char\s*\(\s*\d+\s*(?:,|\)\s*(?:\+|\|\||,)))/i,
  ],
  ['n&1', /^\s*-?\d+\s*\)?\s*(?:or|and)\s+-?\d+\s*(?:$|[=<>)#;-])/i],
  ['E', /\b(?:insert\s+into|delete\s+from|drop\s+(?:table|database)|update\s+\w+\s+set|exec(?:ute)?\s+(?:xp_|sp_))\b/i],
  ['c', /\/\*!\d*/],
  ['s&n', /['"`]\s*(?:=|<>|!=|like\b|regexp\b|is\b)\s*['"`\d]/i],
];

const XSS: RegExp[] = [
  /<\s*\/?\s*(?:script|iframe|frame|frameset|object|embed|applet|svg|base|link|meta|style|isindex|xml|xss|vmlframe|import)\b/i,
  /<[^<>]*?[\s/"'`]on[a-z]{3,}\s*=/i,
  /<\s*[a-z]+[^<>]*?\b(?:href|src|action|formaction|data|background|lowsrc|dynsrc|xlink:href)\s*=\s*['"`]?\s*(?:javascript|vbscript|livescript|data)\s*:/i,
  /<[^<>]*?\bstyle\s*=[^<>]*?(?:expression\s*\(|url\s*\(|behavior\s*:)/i,
  /<!\[cdata\[|<\?(?!xml\b)/i,
  /^\s*(?:javascript|vbscript)\s*:/i,
];

function sqli(input: string): SqliResult {
  for (const [fp, re] of SQLI) if (re.test(input)) return { isInjection: true, fingerprint: fp };
  return { isInjection: false, fingerprint: '' };
}

function xss(input: string): boolean {
  for (const re of XSS) if (re.test(input)) return true;
  return false;
}

export const heuristicDetectorNotLibinjection: InjectionDetector = { name: 'heuristic (not libinjection)', sqli, xss };
