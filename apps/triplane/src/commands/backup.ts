import type { Backup, CloneResponse, RestoreScope, SyncDatabase, SyncRequest } from '@triplane/client';
import { type Command, Option } from 'commander';
import { collect, type Flags, withApi } from '../cli/command.ts';
import { session } from '../cli/context.ts';
import { humanBytes, saveVerified } from '../cli/download.ts';
import { CliError, EXIT, usageError } from '../cli/exit.ts';
import { ago, fields, line, printJson, table } from '../cli/output.ts';
import { assertSucceeded } from '../cli/progress.ts';
import { resolveEnvironment, resolveOrg } from '../cli/resolve.ts';
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
  const backup = program.command('backup').description('backups of environments: create, list, show, restore, download');

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
    if (s.json) {
      printJson(final);
      if (waited) assertSucceeded(final); // exit 6 for a failed job, --json or not
      return;
    }
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

  withApi(
    backup
      .command('deleted')
      .description('backups left by deleted sites (their pre-delete backups), newest first')
      .option('--org <org>', 'organization (default: your only one)'),
  ).action(async (flags: Flags) => {
    const s = session(flags);
    const orgId = await resolveOrg(s.client, flags.org as string | undefined);
    const r = await s.client.backups.listOrg(orgId, { deletedSites: true });
    if (s.json) return printJson(r);
    table(r.items, [
      ['id', (b) => b.id],
      ['site', (b) => `${b.siteName}/${b.environmentName}`],
      ['kind', (b) => b.kind],
      ['taken', (b) => ago(b.snapshotTime)],
      ['database', (b) => size(b.dbBytes)],
      ['files', (b) => size(b.filesBytes)],
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
    if (s.json) {
      printJson(final);
      if (waited) assertSucceeded(final); // exit 6 for a failed job, --json or not
      return;
    }
    if (!waited) return line(`restore queued: job ${job.id}`);
    assertSucceeded(final);
    const safety = (final.result as { safetyBackupId?: string } | null)?.safetyBackupId;
    line(
      `restored ${what} of ${b.siteName}/${b.environmentName} from ${b.id}${safety ? `; the state before is backup ${safety}` : ''}`,
    );
  });

  addWaitOptions(
    withApi(
      backup
        .command('restore-site')
        .description(
          "restore a production backup as a new site — also a deleted site's (see `backup deleted`); URLs are rewritten for its domain",
        )
        .argument('<backup>', 'backup id')
        .requiredOption('--name <name>', 'name of the new site')
        .option('--domain <hostname>', 'a domain of the new site (repeatable; the first is primary)', collect, []),
    ),
  ).action(async (id: string, flags: Flags) => {
    const s = session(flags);
    const r = await s.client.backups.restoreAsSite(id, { name: flags.name as string, domains: flags.domain as string[] });
    await followCopy(s, r, `restore of backup ${id} as ${r.site.name}`, flags, {
      queued: `site ${r.site.name} created; restoring backup ${id} into it: job ${r.syncJob.id}`,
      done: `site ${r.site.name} restored from backup ${id}${r.domains[0] ? ` at https://${r.domains[0].hostname}/` : ''}`,
    });
  });

  addWaitOptions(
    withApi(
      backup
        .command('download')
        .description('download a backup as a .tar.gz (db.sql, wp-content/…, environment.json), prepared on its app server')
        .argument('<backup>', 'backup id')
        .option('-o, --output <file>', 'where to write it (default <site>-<env>-<time>.tar.gz here; - for stdout)'),
    ),
  ).action(async (id: string, flags: Flags) => {
    const s = session(flags);
    const out = flags.output as string | undefined;
    if (out === '-' && process.stdout.isTTY)
      throw usageError('not writing a binary archive to a terminal: redirect it or use -o FILE');
    const b = await s.client.backups.get(id);
    const { job } = await s.client.backups.download(id);
    const { job: final, waited } = await maybeWait(s, job, `export of ${b.siteName}/${b.environmentName}`, flags);
    if (!waited)
      return s.json ? printJson(final) : line(`export queued: job ${job.id} (then GET /api/v1/jobs/${job.id}/artifact)`);
    assertSucceeded(final);
    const artifact = (final.result as { artifact?: { bytes: number; sha256: string } } | null)?.artifact;
    if (!artifact) throw new CliError(EXIT.error, `job ${final.id} finished without an archive`, 'TRIPLANE_ERR_ARTIFACT_MISSING');
    const file = out ?? (final.params as { filename?: string }).filename ?? `${id}.tar.gz`;
    const res = await s.client.jobs.artifact(final.id);
    const got = await saveVerified(res, file, artifact, { label: `download ${b.id}`, quiet: s.json });
    if (s.json) return out === '-' ? undefined : printJson({ job: final, file, ...got });
    const msg = `backup ${b.id} of ${b.siteName}/${b.environmentName}: ${humanBytes(got.bytes)}, sha256 ${got.sha256}`;
    if (out === '-') process.stderr.write(`${msg}\n`);
    else line(`${msg} → ${file}`);
  });
}

/** Follow the `env.sync` of a new copy (clone, staging, restore-as-site) and say how it ended. */
async function followCopy(
  s: ReturnType<typeof session>,
  r: CloneResponse,
  label: string,
  flags: Flags,
  say: { queued: string; done: string },
): Promise<void> {
  const { job: final, waited } = await maybeWait(s, r.syncJob, label, flags);
  if (s.json) {
    printJson({ ...r, syncJob: final });
    if (waited) assertSucceeded(final); // exit 6 for a failed job, --json or not
    return;
  }
  if (!waited) return line(say.queued);
  assertSucceeded(final);
  line(say.done);
}

function sub(program: Command, name: string): Command {
  const c = program.commands.find((x) => x.name() === name);
  if (!c) throw new Error(`command ${name} is not registered yet`);
  return c;
}

function syncBody(flags: Flags, otherKey: 'to' | 'from', otherId: string | undefined): SyncRequest {
  const tables = flags.table as string[] | undefined;
  const body: SyncRequest = {};
  if (otherId) body[otherKey] = otherId;
  if (flags.files === false) body.files = false;
  if (flags.database) body.database = flags.database as SyncDatabase;
  if (tables?.length) {
    body.tables = tables;
    body.database ??= 'tables';
  }
  return body;
}

/**
 * `triplane site clone`, `triplane env staging|push|pull`: copy data between environments (jobs on
 * the app server; registered after `site` and `env`).
 */
export function registerSync(program: Command): void {
  addWaitOptions(
    withApi(
      sub(program, 'site')
        .command('clone')
        .description('clone a site (live, or --from-backup) into a new site; URLs are rewritten for its domain')
        .argument('<site>', 'site name or id')
        .requiredOption('--name <name>', 'name of the new site')
        .option('--domain <hostname>', 'a domain of the new site (repeatable; the first is primary)', collect, [])
        .option('--from-backup <id>', 'clone this backup instead of the live site')
        .option('--org <org>', 'organization (when the site name is not unique)'),
    ),
  ).action(async (siteRef: string, flags: Flags) => {
    const s = session(flags);
    const { site } = await resolveEnvironment(s.client, siteRef, 'production', flags.org as string | undefined);
    const r = await s.client.backups.cloneSite(site.id, {
      name: flags.name as string,
      domains: flags.domain as string[],
      ...(flags.fromBackup ? { fromBackupId: flags.fromBackup as string } : {}),
    });
    await followCopy(s, r, `clone of ${site.name} into ${r.site.name}`, flags, {
      queued: `site ${r.site.name} created; copying its data: job ${r.syncJob.id}`,
      done: `site ${r.site.name} is a copy of ${site.name}${r.domains[0] ? ` at https://${r.domains[0].hostname}/` : ''}`,
    });
  });

  const env = sub(program, 'env');
  addWaitOptions(
    withApi(
      env
        .command('staging')
        .description('create a staging environment filled from production, live or --from-backup (noindex)')
        .argument('<site>', 'site name or id')
        .option('--name <name>', 'environment name', 'staging')
        .option('--domain <hostname>', 'a domain of the staging environment (repeatable)', collect, [])
        .option('--from-backup <id>', 'fill it from this backup of production instead of the live site')
        .option('--org <org>', 'organization (when the site name is not unique)'),
    ),
  ).action(async (siteRef: string, flags: Flags) => {
    const s = session(flags);
    const { site } = await resolveEnvironment(s.client, siteRef, 'production', flags.org as string | undefined);
    const r = await s.client.backups.createStaging(site.id, {
      name: flags.name as string,
      domains: flags.domain as string[],
      ...(flags.fromBackup ? { fromBackupId: flags.fromBackup as string } : {}),
    });
    await followCopy(s, r, `staging of ${site.name}`, flags, {
      queued: `environment ${r.environment.name} created; copying production: job ${r.syncJob.id}`,
      done: `${site.name}/${r.environment.name} is a copy of production${flags.fromBackup ? ` as of backup ${flags.fromBackup}` : ''}`,
    });
  });

  for (const direction of ['push', 'pull'] as const) {
    const other = direction === 'push' ? 'to' : 'from';
    addWaitOptions(
      withApi(
        env
          .command(direction)
          .description(
            direction === 'push'
              ? 'copy an environment into another (default production): files + WooCommerce-safe tables by default'
              : 'copy another environment (default production) into this one',
          )
          .argument('<site>', 'site name or id (or an environment id)')
          .argument('<env>', 'environment name, e.g. staging')
          .option(`--${other} <env>`, `the environment to copy ${other} (default production)`)
          .option('--no-files', 'leave the files alone')
          .addOption(new Option('--database <mode>', 'which tables').choices(['woo-safe', 'all', 'tables', 'none']))
          .option('--table <name>', 'copy exactly these tables (repeatable)', collect)
          .option('--org <org>', 'organization (when the site name is not unique)'),
      ),
    ).action(async (siteRef: string, envRef: string, flags: Flags) => {
      const s = session(flags);
      const { site, env: e } = await resolveEnvironment(s.client, siteRef, envRef, flags.org as string | undefined);
      let otherId: string | undefined;
      if (flags[other]) otherId = (await resolveEnvironment(s.client, site.id, flags[other] as string, undefined)).env.id;
      const body = syncBody(flags, other, otherId);
      const r = direction === 'push' ? await s.client.backups.push(e.id, body) : await s.client.backups.pull(e.id, body);
      const label = `${direction} ${site.name}/${e.name} ${direction === 'push' ? '→' : '←'} ${(flags[other] as string | undefined) ?? 'production'}`;
      const { job: final, waited } = await maybeWait(s, r.job, label, flags);
      if (s.json) {
        printJson(final);
        if (waited) assertSucceeded(final); // exit 6 for a failed job, --json or not
        return;
      }
      if (!waited) return line(`${direction} queued: job ${r.job.id}`);
      assertSucceeded(final);
      line(`${label}: done (database ${String((final.params as { database?: string }).database)})`);
    });
  }
}
