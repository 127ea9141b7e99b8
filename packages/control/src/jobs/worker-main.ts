/**
 * Entry point of a job worker process (started by the supervisor, one per lane group):
 *
 *   node packages/control/src/jobs/worker-main.ts --data-dir DIR [--database-url URL] \
 *     --lanes interactive,normal --concurrency 4 [--poll-ms 500] [--drain-ms 10000]
 *
 * A worker serving only the low lane lowers its own CPU priority (nice 19) and, where
 * `ionice` exists, its IO priority (idle class), so management work never competes with
 * the storefront. SIGTERM/SIGINT: stop claiming, let running jobs finish for --drain-ms,
 * release the rest to the queue, exit 0. A crash (or SIGKILL) loses nothing: the jobs'
 * leases expire and another worker takes them over.
 */
import { execFile } from 'node:child_process';
import { setPriority } from 'node:os';
import { parseArgs } from 'node:util';
import { createLogger, TriplaneError } from '@triplane/kernel';
import type { Lane } from '@triplane/spec';
import { openStore } from '../store/store.ts';
import { loadHandlers } from './registry.ts';
import { Worker } from './worker.ts';

const LANES: readonly Lane[] = ['interactive', 'normal', 'low'];

function parseLanes(s: string): Lane[] {
  const lanes = s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  for (const l of lanes) {
    if (!(LANES as readonly string[]).includes(l)) throw new TriplaneError('TRIPLANE_ERR_CONFIG', `unknown lane: ${l}`);
  }
  if (lanes.length === 0) throw new TriplaneError('TRIPLANE_ERR_CONFIG', '--lanes needs at least one lane');
  return lanes as Lane[];
}

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new TriplaneError('TRIPLANE_ERR_CONFIG', `--${name} must be a positive integer`);
  return n;
}

/** Lower this process's CPU (nice 19) and IO (idle class) priority; best effort. */
function lowerPriority(): void {
  try {
    setPriority(19);
  } catch {
    // not permitted here: run at normal priority rather than not at all
  }
  execFile('ionice', ['-c', '3', '-p', String(process.pid)], () => {});
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string' },
      'database-url': { type: 'string' },
      lanes: { type: 'string', default: 'interactive,normal' },
      concurrency: { type: 'string' },
      'poll-ms': { type: 'string' },
      'drain-ms': { type: 'string' },
    },
    strict: true,
  });
  const lanes = parseLanes(values.lanes ?? 'interactive,normal');
  const concurrency = positiveInt('concurrency', values.concurrency, 2);
  const pollMs = positiveInt('poll-ms', values['poll-ms'], 500);
  const drainMs = positiveInt('drain-ms', values['drain-ms'], 10_000);
  const logger = createLogger('triplane-worker').child({ lanes: lanes.join(','), pid: process.pid });
  if (lanes.every((l) => l === 'low')) lowerPriority();

  const store = openStore({ dataDir: values['data-dir'], databaseUrl: values['database-url'], poolSize: concurrency + 2 });
  const handlers = await loadHandlers();
  const worker = new Worker({ store, handlers, lanes, concurrency, pollMs, logger });
  worker.start();

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    try {
      await worker.stop({ drainMs });
    } finally {
      await store.close();
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  // The supervisor going away (its IPC channel closing) means we should go too.
  process.on('disconnect', () => void stop('disconnect'));
}

main().catch((e) => {
  const err = e instanceof TriplaneError ? e.toJSON() : { message: String((e as Error)?.message ?? e) };
  process.stderr.write(`triplane worker: ${JSON.stringify(err)}\n`);
  process.exit(1);
});
