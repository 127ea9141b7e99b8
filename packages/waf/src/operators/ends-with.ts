import { type Operator, withMacros } from './types.ts';

export const endsWith: Operator = { name: 'endsWith', compile: (param) => withMacros(param, (p, input) => input.endsWith(p)) };
