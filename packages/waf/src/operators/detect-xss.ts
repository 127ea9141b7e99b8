import { injectionDetector } from '../libinjection/index.ts';
import type { Operator } from './types.ts';
import { VerdictMemo } from './verdict-memo.ts';

/** libinjection XSS; the whole inspected value becomes TX.0 when the rule captures (as ModSecurity). */
export const detectXSS: Operator = {
  name: 'detectXSS',
  compile: () => {
    // resolved at config load: a missing libinjection fails the WAF's construction
    const d = injectionDetector();
    const memo = new VerdictMemo<boolean>();
    return (input, tx) => {
      let xss = memo.get(input);
      if (xss === undefined) {
        xss = d.xss(input);
        memo.set(input, xss);
      }
      if (!xss) return false;
      if (tx.capturing) tx.setCaptures([input]);
      return true;
    };
  },
};
