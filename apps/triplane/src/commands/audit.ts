import type { AuditQuery } from '@triplane/client';
import type { Command } from 'commander';
import { type Flags, intArg, parseSince, withApi } from '../cli/command.ts';
import { session } from '../cli/context.ts';
import { line, printJson, table } from '../cli/output.ts';
import { resolveOrg } from '../cli/resolve.ts';

export function registerAudit(program: Command): void {
  withApi(
    program
      .command('audit')
      .description('read the audit log (newest first)')
      .option('--org <org>', 'only this organization (slug or id)')
      .option('--action <action>', 'only this action, e.g. site.create')
      .option('--actor <id>', 'only this actor (user or server id)')
      .option('--target <id>', 'only this target id')
      .option('--since <time>', 'from this time: ISO timestamp or an age like 15m, 2h, 7d')
      .option('--until <time>', 'up to this time: ISO timestamp or an age')
      .option('--limit <n>', 'at most this many', intArg('--limit', 1, 500), 50),
  ).action(async (flags: Flags) => {
    const s = session(flags);
    const q: AuditQuery = { limit: flags.limit as number };
    if (flags.org) q.orgId = await resolveOrg(s.client, flags.org as string);
    if (flags.action) q.action = flags.action as string;
    if (flags.actor) q.actorId = flags.actor as string;
    if (flags.target) q.targetId = flags.target as string;
    if (flags.since) q.since = parseSince(flags.since as string);
    if (flags.until) q.until = parseSince(flags.until as string);
    const page = await s.client.audit.list(q);
    if (s.json) return printJson(page);
    if (page.items.length === 0) return line('no audit entries');
    table(page.items, [
      ['at', (e) => e.at],
      ['action', (e) => e.action],
      ['actor', (e) => (e.actorId ? `${e.actorType}:${e.actorId}` : e.actorType)],
      ['via', (e) => e.actorVia],
      ['target', (e) => (e.targetId ? `${e.targetType}:${e.targetId}` : e.targetType)],
      ['ip', (e) => e.ip],
    ]);
  });
}
