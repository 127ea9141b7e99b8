import { injectionDetector } from '../libinjection/index.ts';
import type { Operator } from './types.ts';
import { VerdictMemo } from './verdict-memo.ts';

/**
 * libinjection SQLi; the fingerprint becomes TX.0 when the rule captures (ModSecurity 2's
 * set_match_to_tx(msr, capture, fingerprint, 0); libmodsecurity3 likewise).
 */
export const detectSQLi: Operator = {
  name: 'detectSQLi',
  compile: () => {
    // resolved at config load: a missing libinjection fails the WAF's construction
    const d = injectionDetector();
    // the fingerprint when SQLi, null when not
    const memo = new VerdictMemo<string | null>();
    return (input, tx) => {
      let fp = memo.get(input);
      if (fp === undefined) {
        const r = d.sqli(input);
        fp = r.isInjection ? r.fingerprint : null;
        memo.set(input, fp);
      }
      if (fp === null) return false;
      if (tx.capturing) tx.setCaptures([fp]);
      return true;
    };
  },
};
