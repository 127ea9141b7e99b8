/**
 * Helpers shared by the end-to-end tests that run the real platform (root + Podman):
 * child processes, ports, polling, and a control plane + agent started from the CLI.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../apps/triplane/bin/triplane', import.meta.url));

export const log = (m: string) => process.stderr.write(`# ${m}\n`);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], o: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { env: o.env ?? process.env, timeout: o.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

export async function skipReason(): Promise<string | undefined> {
  if (process.getuid?.() !== 0)
    return 'needs root: rootful Podman with a user namespace per environment (run as root or `make test`)';
  const p = await run('podman', ['--version']);
  if (p.code !== 0) return 'podman is not installed (run `triplane host prepare`)';
  // Web ports and uid slots are allocated per control plane: another one's sites (e.g. `make
  // up`'s demo) on this host would collide with this test's.
  if (await listening(20000)) return 'port 20000 is taken (a site of another control plane, e.g. `make up`?): stop it first';
  return undefined;
}

export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
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

export async function waitUntil<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms${last ? ` (last: ${String(last)})` : ''}`);
    await sleep(250);
  }
}

export async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const r = await fetch(url, { redirect: 'manual', headers, signal: AbortSignal.timeout(10_000) });
  return { status: r.status, body: await r.text() };
}

/** Start an agent process joined to `api` (state in `dir/agent`, log appended to `dir/agent.log`). */
export function startAgent(o: { api: string; dir: string; env: NodeJS.ProcessEnv; joinToken?: string }): ChildProcess {
  const out = openSync(join(o.dir, 'agent.log'), 'a', 0o600);
  // one host: the edge reaches the web ports on the loopback address
  const args = ['agent', '--api', o.api, '--state-dir', join(o.dir, 'agent'), '--interval-ms', '1000', '--address', '127.0.0.1'];
  if (o.joinToken) args.push('--join-token', o.joinToken);
  const c = spawn(BIN, args, { env: o.env, stdio: ['ignore', out, out] });
  closeSync(out);
  return c;
}

/** SIGTERM, then SIGKILL after 15 s; resolves when the process is gone. */
export async function stopProcess(c: ChildProcess | undefined): Promise<void> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(t);
}

/**
 * Start an edge joined to `api` (state in `dir/edge`, log appended to `dir/edge.log`) on the
 * given 127.0.0.1 ports (0 = that listener off). Its platform CA is `dir/edge/tls/ca.crt`.
 */
export function startEdge(o: {
  api: string;
  dir: string;
  env: NodeJS.ProcessEnv;
  joinToken: string;
  ports: { http: number; https?: number; metrics?: number };
  workers?: number;
}): ChildProcess {
  const out = openSync(join(o.dir, 'edge.log'), 'a', 0o600);
  const args = ['edge', '--api', o.api, '--state-dir', join(o.dir, 'edge'), '--listen', `127.0.0.1:${o.ports.http}`];
  if (o.ports.https) args.push('--listen-https', `127.0.0.1:${o.ports.https}`);
  if (o.ports.metrics) args.push('--listen-metrics', `127.0.0.1:${o.ports.metrics}`);
  args.push('--workers', String(o.workers ?? 2));
  const c = spawn(BIN, args, { env: { ...o.env, TRIPLANE_JOIN_TOKEN: o.joinToken }, stdio: ['ignore', out, out] });
  closeSync(out);
  return c;
}

/** Remove pods left by a run (and their volumes and podman secrets), whatever state they are in. */
export async function removePods(pods: string[]): Promise<void> {
  for (const pod of pods) {
    await run('podman', ['pod', 'rm', '-f', '-t', '0', pod]);
    await run('podman', ['volume', 'rm', '-f', `${pod}-wp-content`, `${pod}-db-data`]);
  }
  const secrets = await run('podman', ['secret', 'ls', '--format', '{{.Name}}']);
  for (const s of secrets.stdout.split('\n'))
    if (s && pods.some((p) => s.startsWith(p))) await run('podman', ['secret', 'rm', s]);
}
