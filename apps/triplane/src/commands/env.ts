import type { Environment, PurgeRequest, UpdateEnvironmentRequest } from '@triplane/client';
import type { Command } from 'commander';
import { collect, type Flags, intArg, withApi } from '../cli/command.ts';
import { session } from '../cli/context.ts';
import { usageError } from '../cli/exit.ts';
import { ago, fields, line, printJson, table } from '../cli/output.ts';
import { assertSucceeded } from '../cli/progress.ts';
import { resolveEnvironment, resolveSite } from '../cli/resolve.ts';
import { registerEnvMetrics } from './env-metrics.ts';
import { addWaitOptions, confirmName, maybeWait, preDeleteNote } from './site.ts';

function printEnv(e: Environment, siteName: string): void {
  fields([
    ['environment', `${siteName}/${e.name}`],
    ['id', e.id],
    ['status', e.statusMessage ? `${e.status}: ${e.statusMessage}` : e.status],
    ['desired', e.desiredState],
    ['generation', e.generation],
    ['replicas', e.replicas],
    ['servers', e.serverIds],
    [
      'php',
      `${e.php.version}, memory ${e.php.memoryLimitMb} MB, upload ${e.php.uploadMaxMb} MB, ${e.php.maxExecutionTimeS}s, ${e.php.workers} workers, opcache ${e.php.opcache ? 'on' : 'off'}`,
    ],
    ['resources', `${e.resources.cpuMillis}m CPU, ${e.resources.memoryMb} MB, ${e.resources.pids} pids`],
    ['unix user', e.runtime.unixUser],
    ['staging', e.staging ? 'yes (the edge answers noindex)' : 'no'],
    ['protection', e.protection ? `HTTP Basic auth, user ${e.protection.user}` : 'none'],
    [
      'external db',
      e.externalDatabase
        ? `${e.externalDatabase.user}@${e.externalDatabase.host}:${e.externalDatabase.port}/${e.externalDatabase.name}`
        : null,
    ],
    ['updated', e.updatedAt],
  ]);
}

/** Settings options shared by `env create` and `env update`. */
function settingsOptions(cmd: Command): Command {
  return cmd
    .option('--replicas <n>', 'replicas (more than 1 needs the pro plan)', intArg('--replicas', 1, 16))
    .option('--php-memory <mb>', 'PHP memory_limit, MB', intArg('--php-memory', 32, 4096))
    .option('--php-upload <mb>', 'PHP upload_max_filesize, MB', intArg('--php-upload', 1, 2048))
    .option('--php-max-exec <seconds>', 'PHP max_execution_time', intArg('--php-max-exec', 5, 3600))
    .option('--php-workers <n>', 'php-fpm children', intArg('--php-workers', 1, 256))
    .option('--opcache', 'enable opcache')
    .option('--no-opcache', 'disable opcache')
    .option('--cpu <millis>', 'CPU limit, millicores', intArg('--cpu', 100, 64000))
    .option('--memory <mb>', 'memory limit, MB', intArg('--memory', 128, 262144))
    .option('--server <id>', 'pin to this app server (repeatable)', collect);
}

function settingsBody(flags: Flags): UpdateEnvironmentRequest {
  const body: UpdateEnvironmentRequest = {};
  const php: Record<string, unknown> = {};
  if (flags.phpMemory !== undefined) php.memoryLimitMb = flags.phpMemory;
  if (flags.phpUpload !== undefined) php.uploadMaxMb = flags.phpUpload;
  if (flags.phpMaxExec !== undefined) php.maxExecutionTimeS = flags.phpMaxExec;
  if (flags.phpWorkers !== undefined) php.workers = flags.phpWorkers;
  if (flags.opcache !== undefined) php.opcache = flags.opcache;
  if (Object.keys(php).length) body.php = php;
  const resources: Record<string, unknown> = {};
  if (flags.cpu !== undefined) resources.cpuMillis = flags.cpu;
  if (flags.memory !== undefined) resources.memoryMb = flags.memory;
  if (Object.keys(resources).length) body.resources = resources;
  if (flags.replicas !== undefined) body.replicas = flags.replicas as number;
  if (flags.server !== undefined) body.serverIds = flags.server as string[];
  return body;
}

export function registerEnv(program: Command): void {
  const env = program
    .command('env')
    .description('environments of a site: list, show, create, update, delete, restart, stop, start, purge');

  withApi(
    env
      .command('list')
      .description("list a site's environments")
      .argument('<site>', 'site name or id')
      .option('--org <org>', 'organization (when the site name is not unique)'),
  ).action(async (siteRef: string, flags: Flags) => {
    const s = session(flags);
    const site = await resolveSite(s.client, siteRef, flags.org as string | undefined);
    const items = await s.client.all((cursor) => s.client.environments.list(site.id, { cursor }));
    if (s.json) return printJson({ items, nextCursor: null });
    table(items, [
      ['name', (e) => e.name],
      ['id', (e) => e.id],
      ['status', (e) => e.status],
      ['desired', (e) => e.desiredState],
      ['replicas', (e) => e.replicas],
      ['generation', (e) => e.generation],
      ['updated', (e) => ago(e.updatedAt)],
    ]);
  });

  withApi(
    env
      .command('show')
      .description('show an environment')
      .argument('<site>', 'site name or id (or an environment id)')
      .argument('[env]', 'environment name', undefined)
      .option('--org <org>', 'organization (when the site name is not unique)'),
  ).action(async (siteRef: string, envRef: string | undefined, flags: Flags) => {
    const s = session(flags);
    const { site, env: e } = await resolveEnvironment(s.client, siteRef, envRef, flags.org as string | undefined);
    if (s.json) return printJson(e);
    printEnv(e, site.name);
  });

  addWaitOptions(
    settingsOptions(
      withApi(
        env
          .command('create')
          .description('add an environment (e.g. staging) to a site')
          .argument('<site>', 'site name or id')
          .argument('<env>', 'environment name, e.g. staging')
          .option('--org <org>', 'organization (when the site name is not unique)'),
      ),
    ),
  ).action(async (siteRef: string, name: string, flags: Flags) => {
    const s = session(flags);
    const site = await resolveSite(s.client, siteRef, flags.org as string | undefined);
    const res = await s.client.environments.create(site.id, { name, ...settingsBody(flags) });
    if (!s.json) line(`environment ${site.name}/${name} (${res.environment.id}) created; job ${res.job.id}`);
    const { job, waited } = await maybeWait(s, res.job, `${site.name}/${name}`, flags);
    if (s.json) printJson({ environment: waited ? await s.client.environments.get(res.environment.id) : res.environment, job });
    if (waited) assertSucceeded(job);
  });

  addWaitOptions(
    withApi(
      env
        .command('delete')
        .description('delete an environment (not production: that goes with its site), its domains and data')
        .argument('<site>', 'site name or id')
        .argument('<env>', 'environment name, e.g. staging')
        .option('--org <org>', 'organization (when the site name is not unique)')
        .option('--confirm <name>', "the environment's name, to confirm without a prompt")
        .option('--no-backup', 'skip the pre-delete backup (taken by default; deletion waits for it)'),
    ),
  ).action(async (siteRef: string, envRef: string, flags: Flags) => {
    const s = session(flags);
    const { site, env: e } = await resolveEnvironment(s.client, siteRef, envRef, flags.org as string | undefined);
    await confirmName(e.name, flags.confirm as string | undefined, 'environment');
    const res = await s.client.environments.delete(e.id, e.name, { backup: flags.backup !== false });
    if (!s.json) line(`environment ${site.name}/${e.name} is being deleted; job ${res.job.id}`);
    const { job, waited } = await maybeWait(s, res.job, `delete ${site.name}/${e.name}`, flags);
    if (s.json) printJson({ ...res, job });
    else if (waited && job.state === 'succeeded') line(`environment ${site.name}/${e.name} deleted${preDeleteNote(job)}`);
    if (waited) assertSucceeded(job);
  });

  settingsOptions(
    withApi(
      env
        .command('update')
        .description("change an environment's settings (a new generation, applied by the agents)")
        .argument('<site>', 'site name or id (or an environment id)')
        .argument('[env]', 'environment name', undefined)
        .option('--org <org>', 'organization (when the site name is not unique)'),
    ),
  ).action(async (siteRef: string, envRef: string | undefined, flags: Flags) => {
    const body = settingsBody(flags);
    if (Object.keys(body).length === 0) throw usageError('nothing to change: pass at least one setting (see --help)');
    const s = session(flags);
    const { site, env: e } = await resolveEnvironment(s.client, siteRef, envRef, flags.org as string | undefined);
    const updated = await s.client.environments.update(e.id, body);
    if (s.json) return printJson(updated);
    line(`environment ${site.name}/${e.name} updated (generation ${updated.generation})`);
  });

  for (const action of ['restart', 'stop', 'start'] as const) {
    addWaitOptions(
      withApi(
        env
          .command(action)
          .description(`${action} an environment`)
          .argument('<site>', 'site name or id (or an environment id)')
          .argument('[env]', 'environment name (default production)', undefined)
          .option('--org <org>', 'organization (when the site name is not unique)'),
      ),
    ).action(async (siteRef: string, envRef: string | undefined, flags: Flags) => {
      const s = session(flags);
      const { site, env: e } = await resolveEnvironment(s.client, siteRef, envRef, flags.org as string | undefined);
      const res = await s.client.environments.action(e.id, action);
      if (!s.json) line(`${action} of ${site.name}/${e.name} requested; job ${res.job.id}`);
      const { job, waited } = await maybeWait(s, res.job, `${action} ${site.name}/${e.name}`, flags);
      if (s.json) printJson({ environment: waited ? await s.client.environments.get(e.id) : res.environment, job });
      else if (waited && job.state === 'succeeded') line(`${site.name}/${e.name}: ${action} done`);
      if (waited) assertSucceeded(job);
    });
  }

  withApi(
    env
      .command('purge')
      .description("drop an environment's cached pages on every edge: by URL, by tag, or all")
      .argument('<site>', 'site name or id (or an environment id)')
      .argument('[env]', 'environment name (default production)', undefined)
      .option('--url <url>', 'a path (`/p?x=1`, every domain) or an absolute URL on one of its domains (repeatable)', collect)
      .option('--tag <tag>', 'a cache tag (X-Magento-Tags, Surrogate-Key, Cache-Tag; repeatable)', collect)
      .option('--all', 'everything cached for the environment')
      .option('--org <org>', 'organization (when the site name is not unique)'),
  ).action(async (siteRef: string, envRef: string | undefined, flags: Flags) => {
    const body = purgeBody(flags);
    const s = session(flags);
    const { site, env: e } = await resolveEnvironment(s.client, siteRef, envRef, flags.org as string | undefined);
    const res = await s.client.environments.purge(e.id, body);
    if (s.json) return printJson(res);
    const what = res.kind === 'all' ? 'everything' : `${res.values.length} ${res.kind === 'url' ? 'URL' : 'tag'}(s)`;
    line(`purge ${res.seq} of ${site.name}/${e.name} recorded (${what}); every edge applies it within moments`);
  });

  registerEnvMetrics(env);
}

/** Exactly one of --url…, --tag… or --all (usage error otherwise, exit 2). */
function purgeBody(flags: Flags): PurgeRequest {
  const urls = flags.url as string[] | undefined;
  const tags = flags.tag as string[] | undefined;
  const all = flags.all === true;
  if ([urls !== undefined, tags !== undefined, all].filter(Boolean).length !== 1) {
    throw usageError('give exactly one of --url URL (repeatable), --tag TAG (repeatable) or --all');
  }
  if (urls) return { urls };
  if (tags) return { tags };
  return { all: true };
}
