import { type Operator, withMacros } from './types.ts';

export const streq: Operator = { name: 'streq', compile: (param) => withMacros(param, (p, input) => p === input) };
