import type { Job, JobEvent, TriplaneClient } from '@triplane/client';
import cliProgress from 'cli-progress';
import { CliError, EXIT } from './exit.ts';

export interface JobView {
  onEvent(e: JobEvent): void;
  stop(): void;
}

/**
 * Shows a job's progress: a bar when stdout is a terminal (and the command's output is not
 * JSON), otherwise one plain line per change on stderr, so stdout stays the command's result.
 */
export function jobView(label: string, o: { json: boolean; showLogs?: boolean }): JobView {
  const tty = Boolean(process.stdout.isTTY) && !o.json;
  if (tty) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {percentage}% | {state} | {message}`,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        stream: process.stdout,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      onEvent(e) {
        const payload = { state: e.job.state, message: truncate(e.type === 'log' ? logText(e.data) : e.job.message, 60) };
        if (!started) {
          bar.start(100, e.job.progress, payload);
          started = true;
        } else bar.update(e.job.progress, payload);
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  let last = '';
  return {
    onEvent(e) {
      if (e.type === 'log') {
        if (o.showLogs) process.stderr.write(`${label}: log: ${logText(e.data)}\n`);
        return;
      }
      const s = `${label}: ${e.job.state} ${e.job.progress}% ${e.job.message}`;
      if (s !== last) process.stderr.write(`${s}\n`);
      last = s;
    },
    stop() {},
  };
}

function logText(data: unknown): string {
  const d = data as { level?: string; message?: string } | null;
  return d && typeof d.message === 'string' ? `${d.level ?? 'info'} ${d.message}` : String(data);
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** Follow a job to its end with a progress view; returns the final job. */
export async function followWithView(
  client: TriplaneClient,
  jobId: string,
  label: string,
  o: { json: boolean; timeoutMs?: number; showLogs?: boolean },
): Promise<Job> {
  const view = jobView(label, o);
  try {
    return await client.waitForJob(jobId, { onProgress: (_job, e) => view.onEvent(e), timeoutMs: o.timeoutMs });
  } finally {
    view.stop();
  }
}

/** Exit 6 for a job that did not succeed (after the caller printed what it wants). */
export function assertSucceeded(job: Job): void {
  if (job.state === 'succeeded') return;
  const why = job.error ? `${job.error.message} (${job.error.code})` : job.message;
  throw new CliError(EXIT.jobFailed, `job ${job.id} (${job.kind}) ${job.state}: ${why}`, 'TRIPLANE_ERR_JOB_FAILED');
}
