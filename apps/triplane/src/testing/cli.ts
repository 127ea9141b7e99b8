/**
 * Test support for the `triplane` command: run the real launcher (bin/triplane) as a child
 * process, and start a real `triplane control` on 127.0.0.1 with a temporary data dir.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/triplane', import.meta.url));

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A clean environment: no inherited TRIPLANE_* settings, a private HOME for saved credentials. */
export function cliEnv(home: string, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TRIPLANE_')) env[k] = v;
  env.HOME = home;
  env.XDG_CONFIG_HOME = join(home, '.config');
  env.XDG_DATA_HOME = join(home, '.local', 'share');
  env.TRIPLANE_LOG_LEVEL = 'warn';
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function triplane(args: string[], o: { env: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { env: o.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`triplane ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, o.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(o.input ?? '');
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export async function waitReady(url: string, timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      await r.body?.cancel();
      if (r.ok) return;
    } catch {
      // not yet
    }
    if (!alive()) throw new Error(`the server at ${url} exited before it was ready`);
    if (Date.now() > deadline) throw new Error(`${url} not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface ControlProcess {
  url: string;
  token: string;
  dataDir: string;
  databaseUrl: string | undefined;
  home: string;
  env: (extra?: Record<string, string | undefined>) => NodeJS.ProcessEnv;
  output: () => string;
  /** SIGTERM and wait; resolves with the exit code. */
  stop: () => Promise<number | null>;
}

/**
 * Web ports for the environments of a test's control plane. Pods publish theirs with iptables
 * DNAT on 127.0.0.1, which takes a port's traffic even from a program listening there, so the
 * files that run real pods (one at a time, under the Podman test lock) keep to the low range and
 * the files whose stand-in origins listen on an environment's port get a window of the high
 * range, by pid (two of them sharing a window is harmless: `siteWithOrigin` moves on when a
 * port is taken).
 */
export const POD_WEB_PORTS = '20000-24999';
export function standInWebPorts(pid = process.pid): string {
  const lo = 25000 + (pid % 50) * 100;
  return `${lo}-${lo + 99}`;
}

/** `triplane init` then `triplane control` on a free port (plus `args`, e.g. `--no-backup-schedule`); waits for /readyz. */
export async function startControl(
  o: { databaseUrl?: string; workers?: number; args?: string[]; webPorts?: string } = {},
): Promise<ControlProcess> {
  const dir = tempDir('triplane-cli-');
  const home = join(dir.path, 'home');
  const dataDir = join(dir.path, 'data');
  const baseEnv = cliEnv(home, { TRIPLANE_WEB_PORTS: o.webPorts ?? standInWebPorts() });
  const storeArgs = ['--data-dir', dataDir, ...(o.databaseUrl ? ['--database-url', o.databaseUrl] : [])];
  const init = await triplane(['init', ...storeArgs], { env: baseEnv });
  const m = /^token: (tpl_\S+)$/m.exec(init.stdout);
  if (init.code !== 0 || !m?.[1]) throw new Error(`init failed (${init.code}): ${init.stdout}${init.stderr}`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    BIN,
    ['control', ...storeArgs, '--listen', `127.0.0.1:${port}`, '--workers', String(o.workers ?? 1), ...(o.args ?? [])],
    { env: baseEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    await waitReady(url, 120_000, () => child.exitCode === null);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n${out}`);
  }
  return {
    url,
    token: m[1],
    dataDir,
    databaseUrl: o.databaseUrl,
    home,
    env: (extra = {}) => cliEnv(home, { TRIPLANE_API: url, TRIPLANE_TOKEN: m[1], ...extra }),
    output: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const code = await exited;
      clearTimeout(killer);
      dir.remove();
      return code;
    },
  };
}
