import type { Transformation } from './types.ts';

export const urlEncode: Transformation = {
  name: 'urlEncode',
  apply: (s) => s.replace(/[^A-Za-z0-9*\-._]/g, (c) => (c === ' ' ? '+' : '%' + c.charCodeAt(0).toString(16).padStart(2, '0'))),
};
