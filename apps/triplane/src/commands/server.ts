import type { Server, ServerRole } from '@triplane/client';
import { type Command, Option } from 'commander';
import { type Flags, withApi } from '../cli/command.ts';
import { session } from '../cli/context.ts';
import { notFoundError } from '../cli/exit.ts';
import { ago, line, printJson, table } from '../cli/output.ts';
import { isId } from '../cli/resolve.ts';

async function findServer(s: ReturnType<typeof session>, ref: string): Promise<Server> {
  if (isId(ref)) return s.client.servers.get(ref);
  const all = await s.client.all((cursor) => s.client.servers.list({ cursor }));
  const hit = all.find((x) => x.name === ref);
  if (!hit) throw notFoundError(`server ${ref} not found`);
  return hit;
}

export function registerServer(program: Command): void {
  const server = program.command('server').description('servers (platform administrators): list, create, delete');

  withApi(server.command('list').description('list servers')).action(async (flags: Flags) => {
    const s = session(flags);
    const items = await s.client.all((cursor) => s.client.servers.list({ cursor }));
    if (s.json) return printJson({ items, nextCursor: null });
    if (items.length === 0) return line('no servers');
    table(items, [
      ['name', (x) => x.name],
      ['id', (x) => x.id],
      ['role', (x) => x.role],
      ['status', (x) => x.status],
      ['address', (x) => x.address],
      ['environments', (x) => x.environmentCount],
      ['heartbeat', (x) => ago(x.lastHeartbeatAt)],
    ]);
  });

  withApi(
    server
      .command('create')
      .description('register a server; prints the one-time join token for its agent')
      .argument('<name>', 'server name: lower-case letters, digits, dashes')
      .addOption(new Option('--role <role>', 'what it runs').choices(['app', 'edge']).default('app')),
  ).action(async (name: string, flags: Flags) => {
    const s = session(flags);
    const r = await s.client.servers.create({ name, role: flags.role as ServerRole });
    if (s.json) return printJson(r);
    line(`server ${r.server.name} (${r.server.id}) registered as ${r.server.role}; waiting for its agent to join`);
    line(`join token: ${r.joinToken}`);
    line(`valid until ${r.joinTokenExpiresAt}, single use`);
  });

  withApi(server.command('delete').description('remove a server').argument('<server>', 'server name or id')).action(
    async (ref: string, flags: Flags) => {
      const s = session(flags);
      const x = await findServer(s, ref);
      await s.client.servers.delete(x.id);
      if (s.json) return printJson({ deleted: x.id });
      line(`server ${x.name} deleted`);
    },
  );
}
