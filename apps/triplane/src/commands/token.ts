import type { Command } from 'commander';
import { type Flags, intArg, withApi } from '../cli/command.ts';
import { session } from '../cli/context.ts';
import { ago, line, printJson, table } from '../cli/output.ts';

export function registerToken(program: Command): void {
  const token = program.command('token').description('your API tokens: list, create, revoke');

  withApi(token.command('list').description('list your API tokens (never their secrets)')).action(async (flags: Flags) => {
    const s = session(flags);
    const items = await s.client.all((cursor) => s.client.tokens.list({ cursor }));
    if (s.json) return printJson({ items, nextCursor: null });
    if (items.length === 0) return line('no tokens');
    table(items, [
      ['name', (t) => t.name],
      ['id', (t) => t.id],
      ['prefix', (t) => `${t.tokenPrefix}…`],
      ['created', (t) => ago(t.createdAt)],
      ['last used', (t) => ago(t.lastUsedAt)],
      ['expires', (t) => t.expiresAt],
      ['revoked', (t) => t.revokedAt],
    ]);
  });

  withApi(
    token
      .command('create')
      .description('create an API token; its secret is shown once')
      .requiredOption('--name <name>', 'what it is for, e.g. ci')
      .option('--expires-in-days <n>', 'expire after this many days', intArg('--expires-in-days', 1, 3650)),
  ).action(async (flags: Flags) => {
    const s = session(flags);
    const t = await s.client.tokens.create({
      name: flags.name as string,
      ...(flags.expiresInDays ? { expiresInDays: flags.expiresInDays as number } : {}),
    });
    if (s.json) return printJson(t);
    line(`token ${t.name} (${t.id}) created${t.expiresAt ? `, expires ${t.expiresAt}` : ''}`);
    line(`token: ${t.token}`);
    line('keep it: it is shown once');
  });

  withApi(token.command('revoke').description('revoke an API token').argument('<id>', 'token id')).action(
    async (id: string, flags: Flags) => {
      const s = session(flags);
      await s.client.tokens.revoke(id);
      if (s.json) return printJson({ revoked: id });
      line(`token ${id} revoked`);
    },
  );
}
