import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TriplaneError } from '@triplane/kernel';
import type { JobHandler } from './handler.ts';
import { HANDLERS } from './handlers/index.ts';

/** Environment variable: comma-separated absolute paths of modules exporting `handlers: JobHandler[]` (tests). */
export const HANDLER_MODULES_ENV = 'TRIPLANE_JOB_HANDLER_MODULES';

/**
 * The handlers a worker process runs: the built-in ones (handlers/index.ts) plus those of
 * the modules named in TRIPLANE_JOB_HANDLER_MODULES.
 */
export async function loadHandlers(env: NodeJS.ProcessEnv = process.env): Promise<JobHandler[]> {
  const out = [...HANDLERS];
  const list = (env[HANDLER_MODULES_ENV] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const path of list) {
    if (!isAbsolute(path))
      throw new TriplaneError('TRIPLANE_ERR_CONFIG', `${HANDLER_MODULES_ENV}: not an absolute path: ${path}`);
    const mod = (await import(pathToFileURL(path).href)) as { handlers?: unknown };
    if (!Array.isArray(mod.handlers)) {
      throw new TriplaneError('TRIPLANE_ERR_CONFIG', `${HANDLER_MODULES_ENV}: ${path} does not export handlers: JobHandler[]`);
    }
    out.push(...(mod.handlers as JobHandler[]));
  }
  return out;
}
