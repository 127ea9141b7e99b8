import type { Domain, SiteDetail } from '@triplane/client';
import type { Command } from 'commander';
import { type Flags, withApi } from '../cli/command.ts';
import { session } from '../cli/context.ts';
import { notFoundError } from '../cli/exit.ts';
import { ago, line, printJson, table } from '../cli/output.ts';
import { pickEnvironment, resolveSite } from '../cli/resolve.ts';

function findDomain(site: SiteDetail, hostname: string): Domain {
  const h = hostname.toLowerCase();
  const d = site.domains.find((x) => x.hostname === h || x.id === hostname);
  if (!d) throw notFoundError(`site ${site.name} has no domain ${hostname}`);
  return d;
}

function envName(site: SiteDetail, id: string): string {
  return site.environments.find((e) => e.id === id)?.name ?? id;
}

export function registerDomain(program: Command): void {
  const domain = program.command('domain').description('domains of a site: add, list, remove, primary');

  withApi(
    domain
      .command('add')
      .description('add a domain to an environment (the first domain becomes primary)')
      .argument('<site>', 'site name or id')
      .argument('<hostname>', 'e.g. shop.example.com')
      .option('--env <env>', 'environment', 'production')
      .option('--primary', 'make it the primary domain')
      .option('--no-redirect', 'serve it as is instead of redirecting to the primary')
      .option('--org <org>', 'organization (when the site name is not unique)'),
  ).action(async (siteRef: string, hostname: string, flags: Flags) => {
    const s = session(flags);
    const site = await resolveSite(s.client, siteRef, flags.org as string | undefined);
    const env = pickEnvironment(site, flags.env as string);
    const d = await s.client.domains.add(env.id, {
      hostname,
      ...(flags.primary ? { primary: true } : {}),
      ...(flags.redirect === false ? { redirectToPrimary: false } : {}),
    });
    if (s.json) return printJson(d);
    line(`domain ${d.hostname} added to ${site.name}/${env.name}${d.primary ? ' (primary)' : ''}`);
  });

  withApi(
    domain
      .command('list')
      .description("list a site's domains")
      .argument('<site>', 'site name or id')
      .option('--env <env>', 'only this environment')
      .option('--org <org>', 'organization (when the site name is not unique)'),
  ).action(async (siteRef: string, flags: Flags) => {
    const s = session(flags);
    const site = await resolveSite(s.client, siteRef, flags.org as string | undefined);
    let items = site.domains;
    if (flags.env) {
      const env = pickEnvironment(site, flags.env as string);
      items = await s.client.all((cursor) => s.client.domains.list(env.id, { cursor }));
    }
    if (s.json) return printJson({ items, nextCursor: null });
    if (items.length === 0) return line('no domains');
    table(items, [
      ['hostname', (d) => d.hostname],
      ['environment', (d) => envName(site, d.environmentId)],
      ['primary', (d) => d.primary],
      ['redirect', (d) => (d.primary ? '-' : d.redirectToPrimary)],
      ['id', (d) => d.id],
      ['added', (d) => ago(d.createdAt)],
    ]);
  });

  withApi(
    domain
      .command('remove')
      .description('remove a domain from a site')
      .argument('<site>', 'site name or id')
      .argument('<hostname>', 'the domain (or its id)')
      .option('--org <org>', 'organization (when the site name is not unique)'),
  ).action(async (siteRef: string, hostname: string, flags: Flags) => {
    const s = session(flags);
    const site = await resolveSite(s.client, siteRef, flags.org as string | undefined);
    const d = findDomain(site, hostname);
    await s.client.domains.remove(d.id);
    if (s.json) return printJson(d);
    line(`domain ${d.hostname} removed from ${site.name}`);
  });

  withApi(
    domain
      .command('primary')
      .description("make a domain its environment's primary")
      .argument('<site>', 'site name or id')
      .argument('<hostname>', 'the domain (or its id)')
      .option('--org <org>', 'organization (when the site name is not unique)'),
  ).action(async (siteRef: string, hostname: string, flags: Flags) => {
    const s = session(flags);
    const site = await resolveSite(s.client, siteRef, flags.org as string | undefined);
    const d = await s.client.domains.update(findDomain(site, hostname).id, { primary: true });
    if (s.json) return printJson(d);
    line(`${d.hostname} is now the primary domain of ${site.name}/${envName(site, d.environmentId)}`);
  });
}
