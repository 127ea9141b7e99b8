import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** What `triplane login` saves. */
export interface Credentials {
  api: string;
  token: string;
  email?: string;
  savedAt?: string;
}

/** `$XDG_CONFIG_HOME/triplane/credentials.json`, else `~/.config/triplane/credentials.json`. */
export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'triplane', 'credentials.json');
}

export function loadCredentials(path = credentialsPath()): Credentials | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text) as Partial<Credentials>;
    if (typeof v.api === 'string' && typeof v.token === 'string') return v as Credentials;
  } catch {
    // a broken file is treated as absent; `triplane login` rewrites it
  }
  return undefined;
}

/** Write atomically with mode 0600 (the directory 0700): the file holds a bearer secret. */
export function saveCredentials(c: Credentials, path = credentialsPath()): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}
