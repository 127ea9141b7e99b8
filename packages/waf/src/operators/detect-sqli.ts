import { injectionDetector } from '../libinjection/index.ts';
import type { Operator } from './types.ts';

/**
 * libinjection SQLi; the fingerprint becomes TX.0 when the rule captures (ModSecurity 2's
 * set_match_to_tx(msr, capture, fingerprint, 0); libmodsecurity3 likewise).
 */
export const detectSQLi: Operator = {
  name: 'detectSQLi',
  compile: () => {
    // resolved at config load: a missing libinjection fails the WAF's construction
    const d = injectionDetector();
    return (input, tx) => {
      const r = d.sqli(input);
      if (r.isInjection && tx.capturing) tx.setCaptures([r.fingerprint]);
      return r.isInjection;
    };
  },
};
