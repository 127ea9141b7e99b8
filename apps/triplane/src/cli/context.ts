import { TriplaneClient } from '@triplane/client';
import { loadCredentials } from './credentials.ts';
import { CliError, EXIT } from './exit.ts';

/** Options every API verb accepts. */
export interface ApiFlags {
  api?: string;
  token?: string;
  json?: boolean;
}

export interface Session {
  client: TriplaneClient;
  api: string;
  json: boolean;
}

/**
 * Where to talk to and as whom: `--api`/`--token` flags, then `TRIPLANE_API`/`TRIPLANE_TOKEN`,
 * then the credentials saved by `triplane login`.
 */
export function resolveConnection(flags: ApiFlags, env: NodeJS.ProcessEnv = process.env): { api: string; token: string } {
  const saved = loadCredentials();
  const rawApi = flags.api || env.TRIPLANE_API || saved?.api;
  const api = rawApi ? normalizeApiUrl(rawApi) : undefined;
  // The saved token is only ever sent to the API it was saved for.
  const token = flags.token || env.TRIPLANE_TOKEN || (saved && api === saved.api ? saved.token : undefined);
  if (!api || !token) {
    throw new CliError(
      EXIT.auth,
      'not logged in: run `triplane login --api URL --token TOKEN`, or set TRIPLANE_API and TRIPLANE_TOKEN',
      'TRIPLANE_ERR_UNAUTHENTICATED',
    );
  }
  return { api, token };
}

export function normalizeApiUrl(api: string): string {
  let u: URL;
  try {
    u = new URL(api);
  } catch {
    throw new CliError(EXIT.usage, `not a URL: ${api}`, 'TRIPLANE_ERR_USAGE');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new CliError(EXIT.usage, `the API URL must be http:// or https://: ${api}`, 'TRIPLANE_ERR_USAGE');
  }
  // `--api http://host:8800/api/v1` and `--api http://host:8800` mean the same.
  return `${u.origin}${u.pathname.replace(/\/+$/, '').replace(/\/api\/v1$/, '')}`;
}

export function session(flags: ApiFlags): Session {
  const { api, token } = resolveConnection(flags);
  return { client: new TriplaneClient({ baseUrl: api, token }), api, json: Boolean(flags.json) };
}
