import { detectSqli } from '../libinjection/index.ts';
import type { Operator } from './types.ts';

/** libinjection SQLi; the fingerprint becomes TX.0 when the rule captures (as ModSecurity). */
export const detectSQLi: Operator = {
  name: 'detectSQLi',
  compile: () => (input, tx) => {
    const r = detectSqli(input);
    if (r.isInjection && tx.capturing) tx.setCaptures([r.fingerprint]);
    return r.isInjection;
  },
};
