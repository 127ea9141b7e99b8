import { chmod, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { TriplaneError, writeFileAtomic } from '@triplane/kernel';
import { Assignment } from '@triplane/spec';

/**
 * The agent's state directory (default `/var/lib/triplane/agent`, mode 0700). Everything in it
 * is written atomically (temp file + rename) with mode 0600:
 *
 *   identity.json     { apiUrl, serverId, role, credential }   — from the one-time join
 *   assignment.json   { etag, assignment }                      — the last assignment received:
 *                     an agent restarted while the control plane is down still brings its pods back
 *   pods/             the podman driver's records and pod YAML
 *   secrets/          per-environment secrets (podman driver)
 *
 * The credential is never logged; files are readable by root only.
 *
 * Example:
 *   const dir = new StateDir('/var/lib/triplane/agent');
 *   await dir.saveIdentity({ apiUrl, serverId, role: 'app', credential });
 *   (await dir.loadAssignment())?.assignment.environments;
 */
export interface AgentIdentity {
  apiUrl: string;
  serverId: string;
  role: 'app' | 'edge';
  credential: string;
}

export interface StoredAssignment {
  etag: string | null;
  assignment: Assignment;
}

async function readJson(file: string): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export class StateDir {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  async init(): Promise<void> {
    await mkdir(this.path, { recursive: true, mode: 0o700 });
    await chmod(this.path, 0o700);
  }

  file(name: string): string {
    return join(this.path, name);
  }

  async loadIdentity(): Promise<AgentIdentity | undefined> {
    const v = (await readJson(this.file('identity.json'))) as Partial<AgentIdentity> | undefined;
    if (!v) return undefined;
    if (typeof v.serverId !== 'string' || typeof v.credential !== 'string' || typeof v.apiUrl !== 'string') {
      throw new TriplaneError('TRIPLANE_ERR_CONFIG', `${this.file('identity.json')} is damaged: remove it and join again`);
    }
    return { apiUrl: v.apiUrl, serverId: v.serverId, role: v.role === 'edge' ? 'edge' : 'app', credential: v.credential };
  }

  async saveIdentity(id: AgentIdentity): Promise<void> {
    await writeFileAtomic(this.file('identity.json'), `${JSON.stringify(id, null, 2)}\n`);
  }

  /** The last assignment received, or undefined (none yet, or unreadable: then it is ignored). */
  async loadAssignment(): Promise<StoredAssignment | undefined> {
    const v = (await readJson(this.file('assignment.json'))) as Partial<StoredAssignment> | undefined;
    if (!v || !Value.Check(Assignment, v.assignment)) return undefined;
    return { etag: typeof v.etag === 'string' ? v.etag : null, assignment: v.assignment };
  }

  async saveAssignment(s: StoredAssignment): Promise<void> {
    await writeFileAtomic(this.file('assignment.json'), `${JSON.stringify(s)}\n`);
  }

  async clear(): Promise<void> {
    await rm(this.path, { recursive: true, force: true });
  }
}
