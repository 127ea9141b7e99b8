import type { Backup, RestoreScope } from '@triplane/client';
import { type Command, Option } from 'commander';
import { type Flags, withApi } from '../cli/command.ts';
import { session } from '../cli/context.ts';
import { usageError } from '../cli/exit.ts';
import { ago, fields, line, printJson, table } from '../cli/output.ts';
import { assertSucceeded } from '../cli/progress.ts';
import { resolveEnvironment } from '../cli/resolve.ts';
import { addWaitOptions, maybeWait } from './site.ts';

function size(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function printBackup(b: Backup): void {
  fields([
    ['backup', b.id],
    ['of', `${b.siteName}/${b.environmentName}`],
    ['kind', b.kind],
    ['state', b.state],
    ['taken', `${b.snapshotTime} (${ago(b.snapshotTime)})`],
    ['database', `${size(b.dbBytes)}${b.dbSnapshotId ? `, snapshot ${b.dbSnapshotId.slice(0, 8)}` : ''}`],
    ['files', `${size(b.filesBytes)}, snapshot ${b.filesSnapshotId.slice(0, 8)}`],
    ['new data', size(b.addedBytes)],
    ['server', b.serverId],
  ]);
}

/** `triplane backup create|list|show|restore`: restic snapshots of environments, taken and restored on their app server. */
export function registerBackup(program: Command): void {
  const backup = program.command('backup').description('backups of environments: create, list, show, restore');

  addWaitOptions(
    withApi(
      backup
        .command('create')
        .description('take a backup now (database + files), following its progress')
        .argument('<site>', 'site name or id (or an environment id)')
        .argument('[env]', 'environment name (default production)', undefined)
        .option('--org <org>', 'organization (when the site name is not unique)'),
    ),
  ).action(async (siteRef: string, envRef: string | undefined, flags: Flags) => {
    const s = session(flags);
    const { site, env } = await resolveEnvironment(s.client, siteRef, envRef, flags.org as string | undefined);
    const { job } = await s.client.backups.create(env.id);
    const { job: final, waited } = await maybeWait(s, job, `backup of ${site.name}/${env.name}`, flags);
    if (s.json) return printJson(final);
    if (!waited) return line(`backup queued: job ${job.id}`);
    assertSucceeded(final);
    const id = (final.params as { backupId?: string }).backupId;
    line(`backup ${id} of ${site.name}/${env.name} taken`);
    if (id) printBackup(await s.client.backups.get(id));
  });

  withApi(
    backup
      .command('list')
      .description("an environment's backups, newest first")
      .argument('<site>', 'site name or id (or an environment id)')
      .argument('[env]', 'environment name (default production)', undefined)
      .option('--all', 'include backups removed by retention')
      .option('--org <org>', 'organization (when the site name is not unique)'),
  ).action(async (siteRef: string, envRef: string | undefined, flags: Flags) => {
    const s = session(flags);
    const { env } = await resolveEnvironment(s.client, siteRef, envRef, flags.org as string | undefined);
    const r = await s.client.backups.list(env.id, flags.all ? { include: 'all' } : {});
    if (s.json) return printJson(r);
    table(r.items, [
      ['id', (b) => b.id],
      ['kind', (b) => b.kind],
      ['taken', (b) => ago(b.snapshotTime)],
      ['database', (b) => size(b.dbBytes)],
      ['files', (b) => size(b.filesBytes)],
      ['new data', (b) => size(b.addedBytes)],
      ['state', (b) => b.state],
    ]);
  });

  withApi(backup.command('show').description('show a backup').argument('<backup>', 'backup id')).action(
    async (id: string, flags: Flags) => {
      const s = session(flags);
      const b = await s.client.backups.get(id);
      if (s.json) return printJson(b);
      printBackup(b);
    },
  );

  addWaitOptions(
    withApi(
      backup
        .command('restore')
        .description('restore a backup into its environment (a safety backup is taken first)')
        .argument('<backup>', 'backup id')
        .addOption(new Option('--scope <scope>', 'what to restore').choices(['full', 'database', 'files']).default('full'))
        .option('--yes', 'do not ask for confirmation'),
    ),
  ).action(async (id: string, flags: Flags) => {
    const s = session(flags);
    const b = await s.client.backups.get(id);
    const scope = flags.scope as RestoreScope;
    const what = scope === 'full' ? 'the database and the files' : scope === 'database' ? 'the database' : 'the files';
    if (!flags.yes) {
      if (!process.stdin.isTTY || !process.stderr.isTTY) {
        throw usageError(`restoring overwrites ${what} of ${b.siteName}/${b.environmentName}: add --yes`);
      }
      const { createInterface } = await import('node:readline/promises');
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        const answer = (
          await rl.question(
            `Overwrite ${what} of ${b.siteName}/${b.environmentName} with the backup of ${b.snapshotTime}? [y/N] `,
          )
        ).trim();
        if (!/^y(es)?$/i.test(answer)) throw usageError('not confirmed; nothing restored');
      } finally {
        rl.close();
      }
    }
    const { job } = await s.client.backups.restore(id, { scope });
    const { job: final, waited } = await maybeWait(s, job, `restore of ${b.siteName}/${b.environmentName}`, flags);
    if (s.json) return printJson(final);
    if (!waited) return line(`restore queued: job ${job.id}`);
    assertSucceeded(final);
    const safety = (final.result as { safetyBackupId?: string } | null)?.safetyBackupId;
    line(
      `restored ${what} of ${b.siteName}/${b.environmentName} from ${b.id}${safety ? `; the state before is backup ${safety}` : ''}`,
    );
  });
}
