export interface SqliResult {
  isInjection: boolean;
  /** libinjection fingerprint (e.g. `s&sos`); '' when not SQLi */
  fingerprint: string;
}

/** What @detectSQLi/@detectXSS call; inputs are latin1 byte strings (one char per byte). */
export interface InjectionDetector {
  readonly name: string;
  sqli(input: string): SqliResult;
  xss(input: string): boolean;
}
