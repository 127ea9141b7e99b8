import { TriplaneClient } from '@triplane/client';
import type { Command } from 'commander';
import { withApi } from '../cli/command.ts';
import { normalizeApiUrl, session } from '../cli/context.ts';
import { credentialsPath, saveCredentials } from '../cli/credentials.ts';
import { usageError } from '../cli/exit.ts';
import { line, printJson } from '../cli/output.ts';

export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('check an API token (GET /auth/me) and save it for later commands')
    .option('--api <url>', 'API URL, e.g. http://127.0.0.1:8800 (default: $TRIPLANE_API)')
    .option('--token <token>', 'API token (default: $TRIPLANE_TOKEN)')
    .option('--json', 'print who you are as JSON')
    .action(async (o: { api?: string; token?: string; json?: boolean }) => {
      const apiArg = o.api ?? process.env.TRIPLANE_API;
      const token = o.token ?? process.env.TRIPLANE_TOKEN;
      if (!apiArg) throw usageError('--api URL is required');
      if (!token) throw usageError('--token TOKEN is required');
      const api = normalizeApiUrl(apiArg);
      const me = await new TriplaneClient({ baseUrl: api, token }).auth.me();
      const path = credentialsPath();
      saveCredentials({ api, token, email: me.user.email, savedAt: new Date().toISOString() }, path);
      if (o.json) printJson(me);
      else line(`logged in to ${api} as ${me.user.email}; credentials saved in ${path}`);
    });

  const whoami = program.command('whoami').description('show who the current credentials belong to');
  withApi(whoami).action(async (o: { api?: string; token?: string; json?: boolean }) => {
    const s = session(o);
    const me = await s.client.auth.me();
    if (s.json) return printJson(me);
    line(`${me.user.email} at ${s.api}${me.user.isSuperuser ? ' (platform administrator)' : ''}`);
    for (const m of me.memberships) line(`  ${m.orgSlug}: ${m.role}${m.siteId ? ` on site ${m.siteId}` : ''}`);
  });
}
