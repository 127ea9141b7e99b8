import { readFile, stat, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { run } from '../exec.ts';

/** Everything `prepareHost` decides from, gathered read-only. */
export interface HostFacts {
  uid: number;
  /** /proc/sys/user/max_user_namespaces (0 = disabled); null if the file is missing. */
  maxUserNamespaces: number | null;
  /** Free bytes for the container store (/var/lib/containers, or its nearest existing parent). */
  freeBytesStore: number;
  /** Package name -> installed. */
  packages: Record<string, boolean>;
  files: Record<string, string | null>;
  /** Mode bits of /dev/net/tun, null if missing. */
  tunMode: number | null;
  rootShared: boolean;
  hardNofile: number | null;
  hardNproc: number | null;
}

async function readOrNull(p: string): Promise<string | null> {
  return readFile(p, 'utf8').catch(() => null);
}

async function freeBytes(path: string): Promise<number> {
  let p = path;
  for (;;) {
    try {
      const s = await statfs(p);
      return s.bavail * s.bsize;
    } catch {
      if (p === '/') return 0;
      p = dirname(p);
    }
  }
}

/** Parses the hard limit column of /proc/self/limits ("unlimited" -> null). Pure. */
export function parseHardLimit(limits: string, label: string): number | null {
  const line = limits.split('\n').find((l) => l.startsWith(label));
  if (!line) return null;
  const cols = line.slice(label.length).trim().split(/\s+/);
  const hard = cols[1];
  return hard === undefined || hard === 'unlimited' ? null : Number(hard);
}

/** True when the mount at "/" has shared propagation (mountinfo optional field "shared:N"). Pure. */
export function rootIsShared(mountinfo: string): boolean {
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    if (f[4] !== '/') continue;
    const sep = f.indexOf('-');
    return f.slice(6, sep).some((o) => o.startsWith('shared:'));
  }
  return false;
}

export async function packageStatus(pkgs: readonly string[]): Promise<Record<string, boolean>> {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query format, not a template
  const r = await run('dpkg-query', ['-W', '-f=${Package} ${db:Status-Abbrev}\n', ...pkgs], { allowFailure: true });
  const out: Record<string, boolean> = {};
  for (const p of pkgs) out[p] = false;
  for (const line of r.stdout.split('\n')) {
    const [name, status] = line.trim().split(/\s+/);
    if (name && status === 'ii') out[name.split(':')[0] as string] = true;
  }
  return out;
}

export async function gatherFacts(pkgs: readonly string[], files: readonly string[]): Promise<HostFacts> {
  const limits = (await readOrNull('/proc/self/limits')) ?? '';
  const tun = await stat('/dev/net/tun').catch(() => null);
  const mnu = await readOrNull('/proc/sys/user/max_user_namespaces');
  const fileMap: Record<string, string | null> = {};
  for (const f of files) fileMap[f] = await readOrNull(f);
  return {
    uid: process.getuid?.() ?? -1,
    maxUserNamespaces: mnu === null ? null : Number(mnu.trim()),
    freeBytesStore: await freeBytes('/var/lib/containers/storage'),
    packages: await packageStatus(pkgs),
    files: fileMap,
    tunMode: tun ? tun.mode & 0o777 : null,
    rootShared: rootIsShared((await readOrNull('/proc/self/mountinfo')) ?? ''),
    hardNofile: parseHardLimit(limits, 'Max open files'),
    hardNproc: parseHardLimit(limits, 'Max processes'),
  };
}
