import type { Environment, ProtectionRequest } from '@triplane/spec';
import type { Command } from 'commander';
import { type Flags, withApi } from '../cli/command.ts';
import { session } from '../cli/context.ts';
import { usageError } from '../cli/exit.ts';
import { line, printJson } from '../cli/output.ts';
import { resolveEnvironment } from '../cli/resolve.ts';

/** Reads all of stdin; one trailing newline (what `echo` and most password managers add) is not part of the password. */
async function readPassword(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/**
 * `triplane env protect <site> [env] --user U --password-stdin` and `triplane env unprotect`:
 * HTTP Basic auth at the edge for the environment's hosts (PUT/DELETE /environments/{id}/protection).
 * The password only ever comes from stdin — never an argument, which would land in shell history
 * and `ps`. Registered on the `env` command that registerEnv (env.ts) created.
 */
export function registerEnvProtect(program: Command): void {
  const env = program.commands.find((c) => c.name() === 'env');
  if (!env) throw new Error('registerEnvProtect: register the env command first');

  withApi(
    env
      .command('protect')
      .description("password-protect an environment's hosts at the edge (HTTP Basic auth)")
      .argument('<site>', 'site name or id (or an environment id)')
      .argument('[env]', 'environment name (default production)', undefined)
      .requiredOption('--user <user>', 'the user name browsers will ask for')
      .option('--password-stdin', 'read the password from stdin (required)')
      .option('--org <org>', 'organization (when the site name is not unique)'),
  ).action(async (siteRef: string, envRef: string | undefined, flags: Flags) => {
    if (flags.passwordStdin !== true) throw usageError('pass the password on stdin with --password-stdin');
    const user = flags.user as string;
    if (user.includes(':')) throw usageError('--user can not contain ":"');
    const password = await readPassword();
    if (password.length === 0) throw usageError('empty password on stdin');
    const s = session(flags);
    const { site, env: e } = await resolveEnvironment(s.client, siteRef, envRef, flags.org as string | undefined);
    const body: ProtectionRequest = { user, password };
    const updated = await s.client.http.request<Environment>('PUT', `/environments/${encodeURIComponent(e.id)}/protection`, {
      body,
    });
    if (s.json) return printJson(updated);
    line(`${site.name}/${e.name} is password-protected (user ${user}); every edge applies it within moments`);
  });

  withApi(
    env
      .command('unprotect')
      .description("remove an environment's password protection")
      .argument('<site>', 'site name or id (or an environment id)')
      .argument('[env]', 'environment name (default production)', undefined)
      .option('--org <org>', 'organization (when the site name is not unique)'),
  ).action(async (siteRef: string, envRef: string | undefined, flags: Flags) => {
    const s = session(flags);
    const { site, env: e } = await resolveEnvironment(s.client, siteRef, envRef, flags.org as string | undefined);
    const updated = await s.client.http.request<Environment>('DELETE', `/environments/${encodeURIComponent(e.id)}/protection`);
    if (s.json) return printJson(updated);
    line(`${site.name}/${e.name} is no longer password-protected`);
  });
}
