import type { JobHandler } from '../handler.ts';
import { environmentActionHandler } from './environment-action.ts';
import { environmentDelete } from './environment-delete.ts';
import { environmentProvision } from './environment-provision.ts';
import { siteDelete } from './site-delete.ts';
import { siteProvision } from './site-provision.ts';
import { storeIntegrityCheck } from './store-integrity-check.ts';

/** Every job kind the workers can run, one handler per file in this folder. */
export const HANDLERS: JobHandler[] = [
  storeIntegrityCheck,
  siteProvision,
  siteDelete,
  environmentProvision,
  environmentActionHandler,
  environmentDelete,
];
