export * from './client.ts';
export * from './errors.ts';
export * from './http.ts';
export * from './log-stream.ts';
export * from './sse.ts';
export * from './types.ts';
export * from './watch.ts';
