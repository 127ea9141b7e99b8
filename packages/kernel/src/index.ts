export * from './backoff.ts';
export * from './clock.ts';
export * from './errors.ts';
export * from './fs.ts';
export * from './ids.ts';
export * from './lock.ts';
export * from './logger.ts';
