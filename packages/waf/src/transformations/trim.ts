import type { Transformation } from './types.ts';

const WS = /^[\t\n\v\f\r ]+|[\t\n\v\f\r ]+$/g;
export const trim: Transformation = { name: 'trim', apply: (s) => s.replace(WS, '') };
export const trimLeft: Transformation = { name: 'trimLeft', apply: (s) => s.replace(/^[\t\n\v\f\r ]+/, '') };
export const trimRight: Transformation = { name: 'trimRight', apply: (s) => s.replace(/[\t\n\v\f\r ]+$/, '') };
