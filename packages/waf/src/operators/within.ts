import { type Operator, withMacros } from './types.ts';

/** The input occurs somewhere in the parameter; as in ModSecurity 2, an empty input matches. */
export const within: Operator = {
  name: 'within',
  compile: (param) => withMacros(param, (p, input) => input === '' || p.includes(input)),
};
