export * from './environment.ts';
export * from './primitives.ts';
