import type { JobHandler } from '../handler.ts';

/** Every job kind the workers can run, one handler per file in this folder. */
export const HANDLERS: JobHandler[] = [];
