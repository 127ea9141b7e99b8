import { type Operator, withMacros } from './types.ts';

export const beginsWith: Operator = {
  name: 'beginsWith',
  compile: (param) => withMacros(param, (p, input) => input.startsWith(p)),
};
