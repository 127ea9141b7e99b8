import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backoffDelay } from '@triplane/kernel';
import { CliError, EXIT } from '../cli/exit.ts';
import { line, note } from '../cli/output.ts';
import { ensureOwnerToken } from './init.ts';
import { type ListenAddress, parseListen, urlFor } from './listen.ts';
import { agentPrecondition, DEMO_DOMAIN, startUpAgent, type UpAgent } from './up-agent.ts';
import { accepting, startUpEdge, type UpEdge } from './up-edge.ts';

export interface UpFlags {
  dataDir?: string | undefined;
  listen?: string | undefined;
  databaseUrl?: string | undefined;
  workers?: number | undefined;
  /** false (`--no-agent`): run only the control plane. */
  agent?: boolean | undefined;
  /** false (`--no-edge`): no edge. */
  edge?: boolean | undefined;
  /** The edge's HTTP listener, default 127.0.0.1:8080. */
  edgeListen?: string | undefined;
  /** The edge's HTTPS listener, default 127.0.0.1:8443; false (`--no-edge-listen-https`): none. */
  edgeListenHttps?: string | false | undefined;
}

const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));
const STOP_GRACE_MS = 30_000;
/** Consecutive failed starts, before it was ever ready, after which `up` gives up. */
const GIVE_UP_AFTER = 5;

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TRIPLANE_DATA_DIR) return env.TRIPLANE_DATA_DIR;
  return join(env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share'), 'triplane');
}

const portInUse = accepting;

/** The demo site's URL through the edge: `*.localhost` resolves to the loopback address in curl and browsers. */
function demoEdgeUrl(a: ListenAddress, scheme = 'http'): string {
  const loopback = ['127.0.0.1', '0.0.0.0', '::', '::1', 'localhost'].includes(a.host);
  const std = a.port === (scheme === 'https' ? 443 : 80);
  const url = loopback ? `http://${DEMO_DOMAIN}${std ? '' : `:${a.port}`}/` : `${urlFor(a)}/ (Host: ${DEMO_DOMAIN})`;
  return url.replace(/^http:/, `${scheme}:`);
}

async function ready(url: string): Promise<boolean> {
  try {
    const r = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
    await r.body?.cancel();
    return r.ok;
  } catch {
    return false;
  }
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `triplane up`: single-node mode. Initialise the store if needed, then run the control plane
 * as a supervised child process (restarted with backoff when it dies). Prints `api: <URL>` and
 * `token: <TOKEN>` once the API answers /readyz, then runs the edge (./up-edge.ts) on
 * --edge-listen (default 127.0.0.1:80/443 as root when free, else 8080/8443), printing `edge: <URL> …`. As root
 * with Podman (and without `--no-agent`) it then runs this machine as the app server and a demo
 * WordPress site `demo.localhost` (./up-agent.ts), printing `site:`, `edge:` and `admin:` lines; otherwise it says why the
 * agent is not started. SIGTERM/SIGINT stop everything (pods keep running) and resolve (exit 0).
 */
export async function runUp(f: UpFlags): Promise<void> {
  const dataDir = resolve(f.dataDir ?? defaultDataDir());
  const addr = parseListen(f.listen ?? '127.0.0.1:8800');
  // WordPress is installed as https://<domain> (no port): links only work when the edge is on 443, which
  // root can bind; otherwise 8080/8443 (the site still answers there, its links point to 443).
  const std = process.getuid?.() === 0 && f.edgeListen === undefined && f.edgeListenHttps === undefined;
  const stdFree = std && !(await portInUse(parseListen('127.0.0.1:80'))) && !(await portInUse(parseListen('127.0.0.1:443')));
  const edgeAddr = parseListen(f.edgeListen ?? (stdFree ? '127.0.0.1:80' : '127.0.0.1:8080'));
  let edgeHttps =
    f.edgeListenHttps === false ? undefined : parseListen(f.edgeListenHttps ?? (stdFree ? '127.0.0.1:443' : '127.0.0.1:8443'));
  const url = urlFor(addr);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const logDir = join(dataDir, 'logs');
  mkdirSync(logDir, { recursive: true, mode: 0o700 });
  const logPath = join(logDir, 'control.log');

  if (await portInUse(addr)) {
    throw new CliError(
      EXIT.error,
      `something is already listening on ${url}; stop it or pass --listen HOST:PORT`,
      'TRIPLANE_ERR_CONFLICT',
    );
  }
  const owner = await ensureOwnerToken(dataDir, f);
  line(`triplane: single-node mode, data in ${dataDir}`);
  if (owner.created) line('init: created the owner organization and user');
  if (owner.minted) line('init: no saved owner token; made a new one (token "up")');
  let edgeBlocked = f.edge === false ? '--no-edge given' : undefined;
  if (!edgeBlocked && (await portInUse(edgeAddr))) {
    edgeBlocked = `something is already listening on ${urlFor(edgeAddr)}; pass --edge-listen HOST:PORT`;
  }
  if (edgeBlocked) line(`edge: not started — ${edgeBlocked}`);
  else if (edgeHttps && (await portInUse(edgeHttps))) {
    line(`edge: no HTTPS — something is already listening on ${urlFor(edgeHttps)}; pass --edge-listen-https HOST:PORT`);
    edgeHttps = undefined;
  }
  let upEdge: UpEdge | undefined;
  const agentBlocked = f.agent === false ? '--no-agent given' : agentPrecondition();
  if (agentBlocked) line(`agent: not started — ${agentBlocked}; sites are not run`);
  let upAgent: UpAgent | undefined;

  let child: ChildProcess | undefined;
  let stopping = false;
  let crashes = 0;
  let announced = false;
  let restartTimer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  let failure: CliError | undefined;
  const stopped = new Promise<void>((r) => {
    wake = r;
  });

  const launch = () => {
    restartTimer = undefined;
    if (stopping) return;
    const args = [
      MAIN,
      'control',
      '--data-dir',
      dataDir,
      '--listen',
      `${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`,
    ];
    if (f.databaseUrl) args.push('--database-url', f.databaseUrl);
    if (f.workers !== undefined) args.push('--workers', String(f.workers));
    const out = openSync(logPath, 'a', 0o600);
    // Own process group: a terminal's Ctrl-C reaches only this supervisor, which stops the
    // child once (SIGTERM). The IPC channel makes the child stop if this process dies.
    const c = spawn(process.execPath, args, { stdio: ['ignore', out, out, 'ipc'], detached: true, env: process.env });
    closeSync(out);
    child = c;
    const startedAt = Date.now();
    let wasReady = false;
    c.once('exit', (code, signal) => {
      child = undefined;
      if (stopping) return;
      if (Date.now() - startedAt > 60_000) crashes = 0;
      crashes++;
      if (!announced && crashes >= GIVE_UP_AFTER) {
        // Never came up: a configuration problem (bad database URL, port taken), not a crash.
        note(`control: failed to start ${crashes} times; giving up — log: ${logPath}`);
        const t = tail(logPath, 10);
        if (t) note(t);
        failure = new CliError(EXIT.error, 'the control plane could not start', 'TRIPLANE_ERR_UNAVAILABLE');
        wake?.();
        return;
      }
      const delay = backoffDelay(crashes, { baseMs: 500, capMs: 30_000 });
      note(`control: exited (${signal ?? `code ${code}`}); restarting in ${(delay / 1000).toFixed(1)}s — log: ${logPath}`);
      const t = tail(logPath, 5);
      if (t && !wasReady) note(t);
      restartTimer = setTimeout(launch, delay);
    });
    c.on('error', (e) => note(`control: could not start: ${e.message}`));
    (async () => {
      while (child === c && !stopping) {
        if (await ready(url)) {
          wasReady = true;
          if (!announced) {
            announced = true;
            line(`api: ${url}`);
            line(`token: ${owner.token}`);
            line(`logs: ${logPath}`);
            line('ready — Ctrl-C to stop');
            if (!edgeBlocked && !stopping) {
              upEdge = startUpEdge({
                main: MAIN,
                api: url,
                token: owner.token,
                dataDir,
                logDir,
                listen: edgeAddr,
                listenHttps: edgeHttps,
              });
            }
            if (!agentBlocked && !stopping) {
              const urls = [demoEdgeUrl(edgeAddr), ...(edgeHttps ? [demoEdgeUrl(edgeHttps, 'https')] : [])];
              const edge = upEdge ? { url: urls.join(' '), listening: upEdge.listening } : undefined;
              upAgent = startUpAgent({ main: MAIN, api: url, token: owner.token, dataDir, logDir, edge });
            }
          } else note('control: ready again');
          return;
        }
        await sleep(200);
      }
    })();
  };

  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    note(`triplane: ${sig}: stopping`);
    clearTimeout(restartTimer);
    await upAgent?.stop();
    await upEdge?.stop();
    const c = child;
    if (c && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGTERM');
      const killer = setTimeout(() => {
        note('control: did not stop in time; killing it');
        c.kill('SIGKILL');
      }, STOP_GRACE_MS);
      await exited;
      clearTimeout(killer);
    }
    line('stopped');
    wake?.();
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  launch();
  await stopped;
  if (failure) throw failure;
}
