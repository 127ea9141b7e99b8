import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@triplane/kernel';
import type { AssignedEnvironment } from '@triplane/spec';
import { AgentJobRunner, type ChildInput, type JobLink } from '../jobs/runner.ts';
import { fileJobTarget } from './target.ts';

/**
 * The agent's INTERACTIVE job runner: file-manager and database-browser operations (control's
 * jobs/agent-kinds.ts, lane 'interactive'). A second AgentJobRunner with its own claim loop, so
 * a person browsing files never waits behind a 10-minute backup in the low lane; each operation
 * runs in a short-lived child (files/job-main.ts) at normal priority, killed after
 * FILE_JOB_KILL_MS whatever it is doing (every operation is bounded well below that).
 */
export const FILE_JOB_KIND_NAMES = [
  'files.list',
  'files.read',
  'files.write',
  'files.delete',
  'files.mkdir',
  'db.tables',
  'db.rows',
];
export const FILE_JOB_KILL_MS = 30_000;
const FILES_JOB_MAIN = fileURLToPath(new URL('./job-main.ts', import.meta.url));

/** Start one operation's child; it is SIGKILLed after `killMs`. */
export function spawnFileJobChild(input: ChildInput, killMs = FILE_JOB_KILL_MS): ChildProcess {
  const target = input.environment ? JSON.stringify(fileJobTarget(input.environment)) : '';
  const child = spawn(process.execPath, [FILES_JOB_MAIN, target], { stdio: ['pipe', 'pipe', 'pipe'] });
  const t = setTimeout(() => child.kill('SIGKILL'), killMs);
  t.unref();
  child.once('exit', () => clearTimeout(t));
  return child;
}

export function fileJobRunner(o: {
  link: JobLink;
  lookup(environmentId: string): AssignedEnvironment | undefined;
  stateDir: string;
  logger?: Logger;
  waitS?: number;
}): AgentJobRunner {
  return new AgentJobRunner({
    link: o.link,
    lookup: o.lookup,
    stateDir: o.stateDir,
    kinds: FILE_JOB_KIND_NAMES,
    ...(o.logger ? { logger: o.logger } : {}),
    ...(o.waitS !== undefined ? { waitS: o.waitS } : {}),
    // no progress to relay: the whole operation is shorter than one flush
    flushMs: 5000,
    killGraceMs: 2000,
    spawnChild: (input) => spawnFileJobChild(input),
  });
}
