import { readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import os from 'node:os';
import type { ServerFacts } from '@triplane/spec';

/**
 * Facts about this machine sent with join and heartbeats (all cheap: no subprocess).
 *
 * Example:
 *   await hostFacts('/var/lib/triplane/agent') // { hostname: 'app1', cpus: 2, memoryBytes: …, load1: 0.4, … }
 */
let osName: string | undefined;

function prettyOs(): string | undefined {
  if (osName !== undefined) return osName || undefined;
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
    osName = m?.[1]?.slice(0, 200) ?? '';
  } catch {
    osName = '';
  }
  return osName || undefined;
}

export async function hostFacts(dataDir?: string): Promise<ServerFacts> {
  const f: ServerFacts = {
    hostname: os.hostname().slice(0, 253),
    kernel: os.release().slice(0, 200),
    arch: os.arch(),
    cpus: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    load1: Math.max(0, os.loadavg()[0] ?? 0),
    uptimeSeconds: Math.floor(os.uptime()),
  };
  const name = prettyOs();
  if (name) f.os = name;
  if (dataDir) {
    try {
      const s = await statfs(dataDir);
      f.diskFreeBytes = s.bavail * s.bsize;
    } catch {
      // not created yet
    }
  }
  return f;
}
