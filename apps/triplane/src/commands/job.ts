import type { Job, JobState } from '@triplane/client';
import { type Command, Option } from 'commander';
import { type Flags, intArg, timeoutMs, withApi } from '../cli/command.ts';
import { session } from '../cli/context.ts';
import { ago, fields, line, printJson, table } from '../cli/output.ts';
import { assertSucceeded, followWithView } from '../cli/progress.ts';
import { resolveOrg, resolveSite } from '../cli/resolve.ts';

const STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

export function printJob(j: Job): void {
  fields([
    ['job', j.id],
    ['kind', j.kind],
    [
      'state',
      j.cancelRequested && !['cancelled', 'succeeded', 'failed'].includes(j.state) ? `${j.state} (cancel requested)` : j.state,
    ],
    ['progress', `${j.progress}% ${j.message}`],
    ['lane', j.lane],
    ['attempts', `${j.attempts}/${j.maxAttempts}`],
    ['org', j.orgId],
    ['site', j.siteId],
    ['environment', j.environmentId],
    ['error', j.error ? `${j.error.message} (${j.error.code})` : null],
    ['created', j.createdAt],
    ['started', j.startedAt],
    ['finished', j.finishedAt],
  ]);
}

export function registerJob(program: Command): void {
  const job = program.command('job').description('jobs: list, show, watch, cancel, retry');

  withApi(
    job
      .command('list')
      .description('list jobs, newest first')
      .option('--org <org>', 'only this organization (slug or id)')
      .option('--site <site>', 'only this site (name or id)')
      .addOption(new Option('--state <state>', 'only jobs in this state').choices(STATES))
      .option('--kind <kind>', 'only this kind, e.g. site.provision')
      .option('--limit <n>', 'at most this many', intArg('--limit', 1, 500), 50),
  ).action(async (flags: Flags) => {
    const s = session(flags);
    const orgId = flags.org ? await resolveOrg(s.client, flags.org as string) : undefined;
    const siteId = flags.site
      ? (await resolveSite(s.client, flags.site as string, flags.org as string | undefined)).id
      : undefined;
    const page = await s.client.jobs.list({
      limit: flags.limit as number,
      ...(orgId ? { orgId } : {}),
      ...(siteId ? { siteId } : {}),
      ...(flags.state ? { state: flags.state as JobState } : {}),
      ...(flags.kind ? { kind: flags.kind as string } : {}),
    });
    if (s.json) return printJson(page);
    if (page.items.length === 0) return line('no jobs');
    table(page.items, [
      ['id', (j) => j.id],
      ['kind', (j) => j.kind],
      ['state', (j) => j.state],
      ['progress', (j) => `${j.progress}%`],
      ['message', (j) => j.message],
      ['created', (j) => ago(j.createdAt)],
    ]);
  });

  withApi(
    job
      .command('show')
      .description('show a job and its log')
      .argument('<id>', 'job id')
      .option('--no-logs', 'without the log lines'),
  ).action(async (id: string, flags: Flags) => {
    const s = session(flags);
    const j = await s.client.jobs.get(id);
    const logs = flags.logs === false ? undefined : await s.client.jobs.logs(id, { limit: 1000 });
    if (s.json) return printJson(logs ? { ...j, logs: logs.items } : j);
    printJob(j);
    if (logs?.items.length) {
      line('log:');
      for (const l of logs.items) line(`  ${l.at} ${l.level.padEnd(5)} ${l.message}`);
    }
  });

  withApi(
    job
      .command('watch')
      .description('follow a job with a progress bar until it ends (exit 6 if it fails)')
      .argument('<id>', 'job id')
      .option('--logs', 'print log lines as they come (plain output only)')
      .option('--timeout <seconds>', 'give up after this long', intArg('--timeout', 1, 86_400)),
  ).action(async (id: string, flags: Flags) => {
    const s = session(flags);
    const j = await followWithView(s.client, id, id, {
      json: s.json,
      timeoutMs: timeoutMs(flags),
      showLogs: Boolean(flags.logs),
    });
    if (s.json) printJson(j);
    else line(`job ${j.id} ${j.state}${j.error ? `: ${j.error.message} (${j.error.code})` : ''}`);
    assertSucceeded(j);
  });

  withApi(job.command('cancel').description('cancel a queued or running job').argument('<id>', 'job id')).action(
    async (id: string, flags: Flags) => {
      const s = session(flags);
      const j = await s.client.jobs.cancel(id);
      if (s.json) return printJson(j);
      line(j.state === 'cancelled' ? `job ${j.id} cancelled` : `job ${j.id}: cancel requested (${j.state})`);
    },
  );

  withApi(
    job
      .command('retry')
      .description('queue a failed or cancelled job again')
      .argument('<id>', 'job id')
      .option('--wait', 'follow it until it ends')
      .option('--timeout <seconds>', 'give up waiting after this long', intArg('--timeout', 1, 86_400)),
  ).action(async (id: string, flags: Flags) => {
    const s = session(flags);
    let j = await s.client.jobs.retry(id);
    if (!s.json) line(`job ${j.id} queued again`);
    if (flags.wait) j = await followWithView(s.client, j.id, j.id, { json: s.json, timeoutMs: timeoutMs(flags) });
    if (s.json) printJson(j);
    if (flags.wait) assertSucceeded(j);
  });
}
