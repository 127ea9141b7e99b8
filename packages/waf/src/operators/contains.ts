import { type Operator, withMacros } from './types.ts';

export const contains: Operator = { name: 'contains', compile: (param) => withMacros(param, (p, input) => input.includes(p)) };
