import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { TriplaneClient } from '@triplane/client';
import { backoffDelay } from '@triplane/kernel';
import { line, note } from '../cli/output.ts';
import { type ListenAddress, urlFor } from './listen.ts';

/**
 * The edge half of `triplane up` (single-node mode), started once the control plane is ready;
 * needs neither root nor Podman:
 *
 *   1. an edge server `local-edge` is created through the API (first run only: its one-time join
 *      token, handed to the child in TRIPLANE_JOIN_TOKEN so it never shows in `ps`);
 *   2. `triplane edge --api URL --state-dir DATA/edge --listen ADDR [--listen-https ADDR]` runs supervised (restarted
 *      with backoff; later runs reuse the saved identity and serve the saved snapshot at once);
 *   3. once the listener accepts connections: `edge: http://127.0.0.1:8080 …`.
 * The edge follows the control plane's snapshot, so the demo site's domain (`demo.localhost`,
 * which curl and browsers resolve to the loopback address) routes through it.
 */
export const EDGE_SERVER = 'local-edge';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface UpEdge {
  /** Resolves true once the listener accepts connections, false if `up` stopped first. */
  readonly listening: Promise<boolean>;
  stop(): Promise<void>;
}

export function accepting(a: ListenAddress): Promise<boolean> {
  const host = a.host === '0.0.0.0' ? '127.0.0.1' : a.host === '::' ? '::1' : a.host;
  return new Promise((res) => {
    const s = connect({ host, port: a.port });
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
    s.setTimeout(1000, () => {
      s.destroy();
      res(false);
    });
  });
}

const hostPort = (a: ListenAddress) => `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;

export function startUpEdge(o: {
  main: string;
  api: string;
  token: string;
  dataDir: string;
  logDir: string;
  listen: ListenAddress;
  /** The HTTPS listener (HTTP/2 + HTTP/1.1, certificates from the platform CA in DATA/edge/tls). */
  listenHttps?: ListenAddress | undefined;
}): UpEdge {
  const stateDir = join(o.dataDir, 'edge');
  const logPath = join(o.logDir, 'edge.log');
  const client = new TriplaneClient({ baseUrl: o.api, token: o.token });
  let stopping = false;
  let child: ChildProcess | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  let joinToken: string | undefined;
  let crashes = 0;

  const launch = () => {
    restartTimer = undefined;
    if (stopping) return;
    const args = [o.main, 'edge', '--api', o.api, '--state-dir', stateDir, '--listen', hostPort(o.listen)];
    if (o.listenHttps) args.push('--listen-https', hostPort(o.listenHttps));
    const env = { ...process.env };
    delete env.TRIPLANE_JOIN_TOKEN;
    // The join token is single-use: only until the edge has saved its identity.
    if (joinToken && !existsSync(join(stateDir, 'identity.json'))) env.TRIPLANE_JOIN_TOKEN = joinToken;
    const out = openSync(logPath, 'a', 0o600);
    // Own process group, so a terminal's Ctrl-C reaches only `up`, which stops the edge once.
    const c = spawn(process.execPath, args, { stdio: ['ignore', out, out, 'ipc'], detached: true, env });
    closeSync(out);
    child = c;
    const startedAt = Date.now();
    c.once('exit', (code, signal) => {
      child = undefined;
      if (stopping) return;
      if (Date.now() - startedAt > 60_000) crashes = 0;
      crashes++;
      const delay = backoffDelay(crashes, { baseMs: 500, capMs: 30_000 });
      note(`edge: exited (${signal ?? `code ${code}`}); restarting in ${(delay / 1000).toFixed(1)}s — log: ${logPath}`);
      restartTimer = setTimeout(launch, delay);
    });
    c.on('error', (e) => note(`edge: could not start: ${e.message}`));
  };

  const main = async (): Promise<boolean> => {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    if (!existsSync(join(stateDir, 'identity.json'))) {
      let name = EDGE_SERVER;
      const taken = (await client.all((cursor) => client.servers.list({ cursor }))).some((s) => s.name === name);
      if (taken) name = `${EDGE_SERVER}-${Date.now().toString(36)}`;
      joinToken = (await client.servers.create({ name, role: 'edge' })).joinToken;
      line(`edge: edge server ${name} created`);
    }
    launch();
    while (!stopping) {
      if (child && (await accepting(o.listen))) {
        const https = o.listenHttps ? `, ${urlFor(o.listenHttps).replace(/^http:/, 'https:')}` : '';
        line(`edge: ${urlFor(o.listen)}${https} (state in ${stateDir}) — log: ${logPath}`);
        return true;
      }
      await sleep(200);
    }
    return false;
  };

  const listening = main().catch((e) => {
    if (!stopping) note(`edge: ${e instanceof Error ? e.message : String(e)} — not started; log: ${logPath}`);
    return false;
  });

  return {
    listening,
    async stop() {
      stopping = true;
      clearTimeout(restartTimer);
      const c = child;
      if (c && c.exitCode === null && c.signalCode === null) {
        const exited = new Promise<void>((r) => c.once('exit', () => r()));
        c.kill('SIGTERM');
        const killer = setTimeout(() => c.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(killer);
      }
      await Promise.race([listening, sleep(1000)]);
    },
  };
}
