export * from './fake-clock.ts';
export * from './fake-driver.ts';
export * from './net.ts';
