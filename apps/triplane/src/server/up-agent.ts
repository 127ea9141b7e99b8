import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TriplaneClient } from '@triplane/client';
import { backoffDelay } from '@triplane/kernel';
import { line, note } from '../cli/output.ts';

/**
 * The app-server half of `triplane up` (single-node mode), run once the control plane is
 * ready, as root with Podman:
 *
 *   1. `triplane host prepare` and `triplane images build` (idempotent; progress lines);
 *   2. an app server `local` is created through the API (first run only: its one-time join
 *      token), then `triplane agent --state-dir DATA/agent` runs supervised (restarted with
 *      backoff; later runs reuse the saved identity, no join token);
 *   3. a demo WordPress site `demo` (domain `demo.localhost`) is created if absent — its admin
 *      password, shown once by the API, is kept in DATA/demo-admin-password (0600) so every `up`
 *      can print it;
 *   4. when the demo runs and is installed: `site: http://127.0.0.1:<port>/`, with the edge
 *      running also `edge: http://demo.localhost:8080/`, and `admin: admin / <pw>`.
 */
export const DEMO_SITE = 'demo';
/** The demo's domain, routed by the edge; `*.localhost` resolves to the loopback address in curl and browsers. */
export const DEMO_DOMAIN = 'demo.localhost';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Why the agent can't run here, or undefined when it can (root and podman). */
export function agentPrecondition(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (rootful Podman, one user namespace per site): run `sudo triplane up`';
  try {
    execFileSync('podman', ['--version'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    return 'Podman is not installed: run `triplane host prepare` (as root)';
  }
  return undefined;
}

export interface UpAgent {
  stop(): Promise<void>;
}

function runStep(main: string, args: string[], label: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = (d: Buffer) => {
      for (const raw of d.toString('utf8').split('\n')) {
        const l = raw.trim();
        if (l) line(l.startsWith(`${label}:`) ? l : `${label}: ${l}`);
      }
    };
    c.stdout?.on('data', out);
    c.stderr?.on('data', out);
    c.once('error', reject);
    c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${label} failed (exit ${code})`))));
  });
}

export function startUpAgent(o: {
  main: string;
  api: string;
  token: string;
  dataDir: string;
  logDir: string;
  /** The edge `up` runs: the demo's URL through it, printed once it listens. */
  edge?: { url: string; listening: Promise<boolean> } | undefined;
}): UpAgent {
  const stateDir = join(o.dataDir, 'agent');
  const logPath = join(o.logDir, 'agent.log');
  const passwordFile = join(o.dataDir, 'demo-admin-password');
  const client = new TriplaneClient({ baseUrl: o.api, token: o.token });
  let stopping = false;
  let child: ChildProcess | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  let joinToken: string | undefined;
  let crashes = 0;

  const launch = () => {
    restartTimer = undefined;
    if (stopping) return;
    // one host: the edge reaches the sites' web ports on the loopback address
    const args = [o.main, 'agent', '--api', o.api, '--state-dir', stateDir, '--address', '127.0.0.1'];
    // The join token is single-use: only until the agent has saved its identity.
    if (joinToken && !existsSync(join(stateDir, 'identity.json'))) args.push('--join-token', joinToken);
    const out = openSync(logPath, 'a', 0o600);
    const c = spawn(process.execPath, args, { stdio: ['ignore', out, out, 'ipc'], detached: true });
    closeSync(out);
    child = c;
    const startedAt = Date.now();
    c.once('exit', (code, signal) => {
      child = undefined;
      if (stopping) return;
      if (Date.now() - startedAt > 60_000) crashes = 0;
      crashes++;
      const delay = backoffDelay(crashes, { baseMs: 500, capMs: 30_000 });
      note(`agent: exited (${signal ?? `code ${code}`}); restarting in ${(delay / 1000).toFixed(1)}s — log: ${logPath}`);
      restartTimer = setTimeout(launch, delay);
    });
    c.on('error', (e) => note(`agent: could not start: ${e.message}`));
  };

  const main = async () => {
    await runStep(o.main, ['host', 'prepare'], 'host');
    if (stopping) return;
    await runStep(o.main, ['images', 'build'], 'images');
    if (stopping) return;
    if (!existsSync(join(stateDir, 'identity.json'))) {
      let name = 'local';
      const taken = (await client.all((cursor) => client.servers.list({ cursor }))).some((s) => s.name === name);
      if (taken) name = `local-${Date.now().toString(36)}`;
      joinToken = (await client.servers.create({ name, role: 'app' })).joinToken;
      line(`agent: app server ${name} created`);
    }
    launch();
    line(`agent: running (state in ${stateDir}) — log: ${logPath}`);
    await demoSite();
  };

  const demoSite = async () => {
    const orgs = await client.orgs.list();
    const org = orgs.items[0];
    if (!org) throw new Error('no organization to create the demo site in');
    let site = (await client.sites.list({ name: DEMO_SITE })).items.find((s) => s.name === DEMO_SITE);
    if (!site) {
      const r = await client.sites.create({
        orgId: org.id,
        name: DEMO_SITE,
        kind: 'wordpress',
        plan: 'essentials',
        domains: [DEMO_DOMAIN],
      });
      site = r.site;
      if (r.wordpress) writeFileSync(passwordFile, `${r.wordpress.adminPassword}\n`, { mode: 0o600 });
      line(`demo: site ${DEMO_SITE} created; waiting for it to run and be installed`);
    }
    let lastStatus = '';
    let domainChecked = false;
    while (!stopping) {
      const d = await client.sites.get(site.id);
      if (!domainChecked) {
        // A demo made before it had a domain (an older `up`) gets it now, so the edge routes it.
        domainChecked = true;
        const prod = d.environments.find((e) => e.name === 'production');
        if (prod && !d.domains.some((x) => x.hostname === DEMO_DOMAIN)) {
          await client.domains
            .add(prod.id, { hostname: DEMO_DOMAIN })
            .catch((e: Error) => note(`demo: ${DEMO_DOMAIN}: ${e.message}`));
        }
      }
      const env = d.environments.find((e) => e.name === 'production');
      const installed = env?.observed.some((r) => r.installed === true) ?? false;
      const port = env ? Object.values(env.runtime.webPorts)[0] : undefined;
      if (env && env.status === 'running' && installed && port) {
        line(`site: http://127.0.0.1:${port}/`);
        if (o.edge && (await o.edge.listening)) line(`edge: ${o.edge.url}`);
        const pw = existsSync(passwordFile) ? readFileSync(passwordFile, 'utf8').trim() : undefined;
        line(`admin: admin / ${pw ?? '(not saved here: it was shown once when the site was created)'}`);
        return;
      }
      const s = env
        ? `${env.status}${env.statusMessage ? ` (${env.statusMessage})` : ''}${installed ? '' : ', not installed yet'}`
        : '';
      if (s !== lastStatus) {
        note(`demo: ${s}`);
        lastStatus = s;
      }
      await sleep(1000);
    }
  };

  const done = main().catch((e) => {
    if (!stopping) note(`agent: ${e instanceof Error ? e.message : String(e)} — sites are not run; log: ${logPath}`);
  });

  return {
    async stop() {
      stopping = true;
      clearTimeout(restartTimer);
      const c = child;
      if (c && c.exitCode === null && c.signalCode === null) {
        const exited = new Promise<void>((r) => c.once('exit', () => r()));
        c.kill('SIGTERM'); // pods keep running
        const killer = setTimeout(() => c.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(killer);
      }
      await Promise.race([done, sleep(1000)]);
    },
  };
}
