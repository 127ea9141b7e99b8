import { atoi, type Operator, withMacros } from './types.ts';

function numeric(name: string, cmp: (a: number, b: number) => boolean): Operator {
  return {
    name,
    compile: (param) => {
      if (param.includes('%{')) return withMacros(param, (p, input) => cmp(atoi(input), atoi(p)));
      // a constant parameter is converted once
      const b = atoi(param);
      return (input) => cmp(atoi(input), b);
    },
  };
}

export const eq = numeric('eq', (a, b) => a === b);
export const ge = numeric('ge', (a, b) => a >= b);
export const gt = numeric('gt', (a, b) => a > b);
export const le = numeric('le', (a, b) => a <= b);
export const lt = numeric('lt', (a, b) => a < b);
