import type { Membership, Role } from '@triplane/client';
import { type Command, Option } from 'commander';
import { type Flags, withApi } from '../cli/command.ts';
import { session } from '../cli/context.ts';
import { notFoundError, usageError } from '../cli/exit.ts';
import { ago, line, printJson, table } from '../cli/output.ts';
import { isId, resolveOrg, resolveSite } from '../cli/resolve.ts';

const ROLES = ['owner', 'admin', 'developer', 'viewer'];

export function registerOrg(program: Command): void {
  const org = program.command('org').description('organizations: list, create');

  withApi(org.command('list').description('list the organizations you can see')).action(async (flags: Flags) => {
    const s = session(flags);
    const items = await s.client.all((cursor) => s.client.orgs.list({ cursor }));
    if (s.json) return printJson({ items, nextCursor: null });
    if (items.length === 0) return line('no organizations');
    table(items, [
      ['slug', (o) => o.slug],
      ['id', (o) => o.id],
      ['name', (o) => o.name],
      ['created', (o) => ago(o.createdAt)],
    ]);
  });

  withApi(
    org
      .command('create')
      .description('create an organization (you become its owner)')
      .argument('<slug>', 'lower-case letters, digits, dashes')
      .option('--name <name>', 'display name (default: the slug)'),
  ).action(async (slug: string, flags: Flags) => {
    const s = session(flags);
    const o = await s.client.orgs.create({ slug, name: (flags.name as string | undefined) ?? slug });
    if (s.json) return printJson(o);
    line(`organization ${o.slug} (${o.id}) created`);
  });
}

async function findMember(s: ReturnType<typeof session>, orgId: string, ref: string): Promise<Membership> {
  const all = await s.client.all((cursor) => s.client.members.list(orgId, { cursor }));
  const hits = all.filter((m) => m.id === ref || m.userId === ref || m.email === ref.toLowerCase());
  if (hits.length === 0) throw notFoundError(`no member ${ref} in this organization`);
  if (hits.length > 1) throw usageError(`${ref} has several grants here (org-wide and per site): pass the member id`);
  return hits[0] as Membership;
}

export function registerMember(program: Command): void {
  const member = program.command('member').description('members of an organization: list, add, remove');

  withApi(
    member.command('list').description("list an organization's members").option('--org <org>', 'organization slug or id'),
  ).action(async (flags: Flags) => {
    const s = session(flags);
    const orgId = await resolveOrg(s.client, flags.org as string | undefined);
    const items = await s.client.all((cursor) => s.client.members.list(orgId, { cursor }));
    if (s.json) return printJson({ items, nextCursor: null });
    table(items, [
      ['email', (m) => m.email],
      ['role', (m) => m.role],
      ['site', (m) => m.siteId ?? '(all)'],
      ['id', (m) => m.id],
      ['user', (m) => m.userId],
      ['since', (m) => ago(m.createdAt)],
    ]);
  });

  withApi(
    member
      .command('add')
      .description('grant a role to an existing user, org-wide or on one site')
      .argument('<user>', 'email or user id')
      .addOption(new Option('--role <role>', 'role').choices(ROLES).makeOptionMandatory())
      .option('--org <org>', 'organization slug or id')
      .option('--site <site>', 'only on this site (name or id)'),
  ).action(async (user: string, flags: Flags) => {
    const s = session(flags);
    const orgId = await resolveOrg(s.client, flags.org as string | undefined);
    const siteId = flags.site ? (await resolveSite(s.client, flags.site as string, orgId)).id : undefined;
    const m = await s.client.members.add(orgId, {
      ...(isId(user) ? { userId: user } : { email: user }),
      role: flags.role as Role,
      ...(siteId ? { siteId } : {}),
    });
    if (s.json) return printJson(m);
    line(`${m.email} is now ${m.role}${m.siteId ? ` on site ${m.siteId}` : ''}`);
  });

  withApi(
    member
      .command('remove')
      .description('remove a member (a grant) from an organization')
      .argument('<member>', 'member id, user id or email')
      .option('--org <org>', 'organization slug or id'),
  ).action(async (ref: string, flags: Flags) => {
    const s = session(flags);
    const orgId = await resolveOrg(s.client, flags.org as string | undefined);
    const m = ref.startsWith('mem_') && isId(ref) ? { id: ref, email: ref } : await findMember(s, orgId, ref);
    await s.client.members.remove(orgId, m.id);
    if (s.json) return printJson({ removed: m.id });
    line(`member ${m.email} removed`);
  });
}
