/**
 * @detectSQLi / @detectXSS seam.
 *
 * Default: libinjection itself (libinjection.ts → native.ts, Debian's libmodsecurity3 through
 * koffi), loaded on first use. A rule set that uses either operator is compiled against the
 * detector in force at that moment (operators/detect-*.ts call `injectionDetector()` at compile
 * time), so a missing library fails the WAF's construction with TRIPLANE_ERR_WAF_LIBINJECTION
 * naming the package to install — never a WAF that silently lets SQLi/XSS through.
 *
 * `setInjectionDetector` swaps the implementation for WAFs built afterwards. The only other
 * implementation shipped is `heuristicDetectorNotLibinjection`, an explicit opt-in for hosts
 * without the library: a few patterns for the classic shapes, with verdicts that differ from
 * libinjection's (CRS 942100/941100/941101 lose accuracy).
 */
import { libinjectionDetector } from './libinjection.ts';
import { LIBINJECTION_LIBRARY, loadLibinjection } from './native.ts';
import type { InjectionDetector } from './types.ts';

export { heuristicDetectorNotLibinjection } from './heuristic.ts';
export { libinjectionDetector } from './libinjection.ts';
export { LIBINJECTION_LIBRARY, LIBINJECTION_PACKAGE, loadLibinjection, WAF_LIBINJECTION } from './native.ts';
export type { InjectionDetector, SqliResult } from './types.ts';

let current: InjectionDetector | undefined;
let library = LIBINJECTION_LIBRARY;

/** Replaces the detector for rule sets compiled from now on. */
export function setInjectionDetector(d: InjectionDetector): void {
  current = d;
}

/**
 * Makes libinjection from `file` (a shared object exporting libinjection_sqli/_xss, e.g. a
 * newer libinjection build) the detector for rule sets compiled from now on. Loaded on first
 * use, so a bad path surfaces as TRIPLANE_ERR_WAF_LIBINJECTION at WAF construction.
 */
export function useLibinjectionLibrary(file: string): void {
  library = file;
  current = undefined;
}

/** The detector in force; loads libinjection on first use (throws TRIPLANE_ERR_WAF_LIBINJECTION). */
export function injectionDetector(): InjectionDetector {
  current ??= libinjectionDetector(loadLibinjection(library));
  return current;
}
