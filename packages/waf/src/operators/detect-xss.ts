import { injectionDetector } from '../libinjection/index.ts';
import type { Operator } from './types.ts';

/** libinjection XSS; the whole inspected value becomes TX.0 when the rule captures (as ModSecurity). */
export const detectXSS: Operator = {
  name: 'detectXSS',
  compile: () => {
    // resolved at config load: a missing libinjection fails the WAF's construction
    const d = injectionDetector();
    return (input, tx) => {
      if (!d.xss(input)) return false;
      if (tx.capturing) tx.setCaptures([input]);
      return true;
    };
  },
};
