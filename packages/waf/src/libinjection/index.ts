/**
 * @detectSQLi / @detectXSS seam.
 *
 * ModSecurity runs libinjection (SQLi: tokenizer → 5-token fingerprint → lookup among ~9.3k
 * known fingerprints; XSS: HTML5 tokenizer + blacklists). This module is the contract the
 * operators call; the implementation is swappable with `setInjectionDetector` so a faithful
 * one (a TypeScript port tested differentially against the C library, or the C library via
 * FFI/WebAssembly) can replace the first one without touching the engine.
 *
 * FIRST IMPLEMENTATION ONLY: `heuristicDetector` (heuristic.ts) is a small set of patterns for
 * the classic shapes, NOT libinjection. Its verdicts differ from libinjection's; CRS rules
 * 942100 and 941100/941101 are only as good as it is until the real detector lands.
 */
import { heuristicDetector } from './heuristic.ts';

export interface SqliResult {
  isInjection: boolean;
  /** libinjection fingerprint (e.g. `s&sos`); the heuristic returns a pseudo fingerprint */
  fingerprint: string;
}

export interface InjectionDetector {
  readonly name: string;
  sqli(input: string): SqliResult;
  xss(input: string): boolean;
}

let current: InjectionDetector = heuristicDetector;

export function setInjectionDetector(d: InjectionDetector): void {
  current = d;
}

export function injectionDetector(): InjectionDetector {
  return current;
}

export function detectSqli(input: string): SqliResult {
  return current.sqli(input);
}

export function detectXss(input: string): boolean {
  return current.xss(input);
}
