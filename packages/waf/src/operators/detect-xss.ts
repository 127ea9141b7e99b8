import { detectXss } from '../libinjection/index.ts';
import type { Operator } from './types.ts';

export const detectXSS: Operator = { name: 'detectXSS', compile: () => (input) => detectXss(input) };
