import { createInterface } from 'node:readline/promises';
import type { Environment, Job, Site, SiteDetail } from '@triplane/client';
import { type Command, Option } from 'commander';
import { collect, type Flags, intArg, timeoutMs, withApi } from '../cli/command.ts';
import { session } from '../cli/context.ts';
import { usageError } from '../cli/exit.ts';
import { ago, fields, line, printJson, table } from '../cli/output.ts';
import { assertSucceeded, followWithView } from '../cli/progress.ts';
import { resolveOrg, resolveSite } from '../cli/resolve.ts';

const KINDS = ['wordpress', 'woocommerce', 'magento', 'php'];
const PLANS = ['essentials', 'pro'];

export function siteColumns(): [string, (s: Site) => unknown][] {
  return [
    ['name', (s) => s.name],
    ['id', (s) => s.id],
    ['kind', (s) => s.kind],
    ['plan', (s) => s.plan],
    ['status', (s) => s.status],
    ['created', (s) => ago(s.createdAt)],
  ];
}

export function envSummary(e: Environment): string {
  return `${e.name} (${e.status}, ${e.desiredState}, ${e.replicas}×)`;
}

export function printSite(s: SiteDetail): void {
  fields([
    ['name', s.name],
    ['id', s.id],
    ['org', s.orgId],
    ['kind', s.kind],
    ['plan', s.plan],
    ['status', s.status],
    ['environments', s.environments.map(envSummary).join(', ')],
    ['domains', s.domains.map((d) => (d.primary ? `${d.hostname} (primary)` : d.hostname)).join(', ')],
    ['created', s.createdAt],
    ['updated', s.updatedAt],
  ]);
}

/** Wait for a 202's job unless --no-wait; returns the final job (or the queued one). */
export async function maybeWait(
  s: ReturnType<typeof session>,
  job: Job,
  label: string,
  flags: Flags,
): Promise<{ job: Job; waited: boolean }> {
  if (flags.wait === false) return { job, waited: false };
  const final = await followWithView(s.client, job.id, label, { json: s.json, timeoutMs: timeoutMs(flags) });
  return { job: final, waited: true };
}

async function confirmName(expected: string, given: string | undefined, what: string): Promise<void> {
  if (given !== undefined) {
    if (given !== expected) throw usageError(`--confirm ${given} does not match the ${what} name ${expected}`);
    return;
  }
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw usageError(`deleting ${what} ${expected} needs --confirm ${expected}`);
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`Delete ${what} ${expected} and everything in it? Type its name to confirm: `)).trim();
    if (answer !== expected) throw usageError('not confirmed; nothing deleted');
  } finally {
    rl.close();
  }
}

export { confirmName };

/** `; pre-delete backup bak_… (production)` from a deletion job's result, for the CLI's last line. */
export function preDeleteNote(job: { result?: unknown }): string {
  const r = job.result as { preDeleteBackups?: { backupId: string }[] } | null | undefined;
  const ids = r?.preDeleteBackups?.map((b) => b.backupId) ?? [];
  return ids.length ? `; pre-delete backup ${ids.join(', ')} (triplane backup show <id>)` : '';
}

export function addWaitOptions(cmd: Command): Command {
  return cmd
    .option('--no-wait', 'return once the job is queued instead of following it')
    .option('--timeout <seconds>', 'give up waiting after this long', intArg('--timeout', 1, 86_400));
}

export function registerSite(program: Command): void {
  const site = program.command('site').description('sites: create, list, show, delete');

  addWaitOptions(
    withApi(
      site
        .command('create')
        .description('create a site with its production environment and wait for provisioning')
        .argument('[name]', 'site name (or --name)')
        .option('--name <name>', 'site name: lower-case letters, digits, dashes')
        .option('--org <org>', 'organization slug or id (default: your only one)')
        .addOption(new Option('--kind <kind>', 'what runs on it').choices(KINDS).default('wordpress'))
        .addOption(new Option('--plan <plan>', 'plan').choices(PLANS).default('essentials'))
        .option('--domain <hostname>', 'a domain of the production environment (repeatable; the first is primary)', collect, []),
    ),
  ).action(async (nameArg: string | undefined, flags: Flags) => {
    const name = (flags.name as string | undefined) ?? nameArg;
    if (!name) throw usageError('a site name is required: triplane site create --name NAME');
    if (nameArg && flags.name && nameArg !== flags.name) throw usageError('give the site name once');
    const s = session(flags);
    const orgId = await resolveOrg(s.client, flags.org as string | undefined);
    const domains = flags.domain as string[];
    const res = await s.client.sites.create({
      orgId,
      name,
      kind: flags.kind as 'wordpress',
      plan: flags.plan as 'essentials',
      ...(domains.length ? { domains } : {}),
    });
    if (!s.json) {
      line(`site ${res.site.name} (${res.site.id}) created; provisioning job ${res.job.id}`);
      // Shown once: the API keeps no readable copy after WordPress is installed.
      if (res.wordpress) line(`admin: ${res.wordpress.adminUser} / ${res.wordpress.adminPassword} (shown once: save it now)`);
    }
    const { job, waited } = await maybeWait(s, res.job, `site ${name}`, flags);
    if (s.json) {
      const out = waited ? { ...res, site: await s.client.sites.get(res.site.id).then(stripDetail), job } : res;
      printJson(out);
    } else if (waited && job.state === 'succeeded') line(`site ${name} is ready`);
    if (waited) assertSucceeded(job);
  });

  withApi(
    site
      .command('list')
      .description('list sites')
      .option('--org <org>', 'only this organization (slug or id)')
      .option('--name <name>', 'only sites with this name'),
  ).action(async (flags: Flags) => {
    const s = session(flags);
    const orgId = flags.org ? await resolveOrg(s.client, flags.org as string) : undefined;
    const items = await s.client.all((cursor) =>
      s.client.sites.list({ cursor, ...(orgId ? { orgId } : {}), ...(flags.name ? { name: flags.name as string } : {}) }),
    );
    if (s.json) return printJson({ items, nextCursor: null });
    if (items.length === 0) return line('no sites');
    table(items, siteColumns());
  });

  withApi(
    site
      .command('show')
      .description('show a site with its environments and domains')
      .argument('<site>', 'site name or id')
      .option('--org <org>', 'organization (when the name is not unique)'),
  ).action(async (ref: string, flags: Flags) => {
    const s = session(flags);
    const detail = await resolveSite(s.client, ref, flags.org as string | undefined);
    if (s.json) return printJson(detail);
    printSite(detail);
  });

  addWaitOptions(
    withApi(
      site
        .command('delete')
        .description('delete a site, its environments, domains and data')
        .argument('<site>', 'site name or id')
        .option('--org <org>', 'organization (when the name is not unique)')
        .option('--confirm <name>', "the site's name, to confirm without a prompt")
        .option('--no-backup', 'skip the pre-delete backup (taken by default; deletion waits for it)'),
    ),
  ).action(async (ref: string, flags: Flags) => {
    const s = session(flags);
    const detail = await resolveSite(s.client, ref, flags.org as string | undefined);
    await confirmName(detail.name, flags.confirm as string | undefined, 'site');
    const res = await s.client.sites.delete(detail.id, detail.name, { backup: flags.backup !== false });
    if (!s.json) line(`site ${detail.name} is being deleted; job ${res.job.id}`);
    const { job, waited } = await maybeWait(s, res.job, `delete ${detail.name}`, flags);
    if (s.json) printJson({ ...res, job });
    else if (waited && job.state === 'succeeded') line(`site ${detail.name} deleted${preDeleteNote(job)}`);
    if (waited) assertSucceeded(job);
  });
}

function stripDetail(d: SiteDetail): Site {
  const { environments: _e, domains: _d, ...site } = d;
  return site;
}
