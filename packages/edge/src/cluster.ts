import cluster, { type Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PurgeCommand } from '@triplane/cache';
import { type Logger, silentLogger, TriplaneError } from '@triplane/kernel';
import type { EdgeEnvironmentDelta } from '@triplane/spec';
import { AggregatorRegistry } from 'prom-client';
import { type EdgeConfig, loadConfig } from './config.ts';
import type { DrainedLogs } from './logs-push.ts';
import { mergeEnvironmentDeltas } from './traffic-deltas.ts';
import type { SqliteCollectionStore } from './waf-collections.ts';
import { WafCompiler } from './waf-compile.ts';
import { wafRootText } from './waf-config.ts';
import type { WafEvent } from './waf-events.ts';

/**
 * The edge on every core: a primary process that owns the listening sockets and the config, and N
 * worker processes (node:cluster) that each run the whole edge (`startEdge`) on their own memory cache.
 *
 *   primary  validates every config (a bad one is refused before any worker sees it), sends it to the
 *            workers, fans purges out to all of them, serves the aggregated Prometheus metrics, and
 *            respawns a worker that dies (backoff when it keeps dying).
 *   workers  each bind the public ports with SO_REUSEPORT on their own socket; the kernel spreads
 *            connections across them. (Not node:cluster's round-robin: a connection the primary has
 *            handed to a worker that then crashes is never answered nor closed — measured: the client
 *            hangs until its own timeout. With SO_REUSEPORT a dying worker's queue is reset at once.)
 *
 * No request is dropped by a config change (each worker swaps atomically in place) nor by a rolling
 * restart (`restartWorkers`, SIGUSR2 in `triplane edge`): the replacement is listening before the old
 * worker closes its listener, and with net.ipv4.tcp_migrate_req=1 (set by `triplane host prepare`)
 * the kernel moves connections still queued on the closing listener to another worker's.
 *
 * Trade-off: caches are per worker (Node can't share a heap between processes), so a cold object is
 * fetched once per worker (coalesced within each) and `cache.maxBytes` applies per worker.
 */
export interface EdgeClusterOptions {
  /** Raw config object or an already loaded EdgeConfig. */
  config: unknown;
  workers: number;
  logger?: Logger;
  /** Restart backoff base, ms (a worker dying again within a minute waits longer, up to 30 s). */
  restartDelayMs?: number;
  /** WAF events of every worker (e.g. a WafEventShipper's `push`). */
  onWafEvent?: (e: WafEvent) => void;
  /**
   * The edge's state directory: the WAF collections shared by the workers live in
   * STATE_DIR/waf/collections.db (waf-collections.ts). Without it each worker keeps its own.
   */
  stateDir?: string;
  /** Workers keep access entries for the log shipper (drainLogs); `onLogsReady`: a worker has a batch waiting. */
  shipLogs?: boolean;
  onLogsReady?: () => void;
}

/** How often the primary deletes expired WAF collection records. */
const COLLECTION_SWEEP_MS = 60_000;

export interface EdgeCluster {
  readonly address: AddressInfo;
  readonly httpsAddress: AddressInfo | undefined;
  readonly metricsAddress: AddressInfo | undefined;
  /** Validates (throws TRIPLANE_ERR_CONFIG, nothing changes) and sends the config to every worker. */
  reload(config: unknown): void;
  /** Runs the purge on every worker's cache; undefined when no such site is configured. */
  purge(siteName: string, commands: PurgeCommand[]): number | undefined;
  /** Replaces the workers one by one; resolves when every worker is new. */
  restartWorkers(): Promise<void>;
  /** Worker process ids (tests, status). */
  pids(): number[];
  /** Every worker's per-environment traffic since the previous call, summed (metrics-push.ts). */
  drainMetrics(): Promise<EdgeEnvironmentDelta[]>;
  /** Every worker's log lines since the previous call (logs-push.ts); a worker answering late is left out. */
  drainLogs(): Promise<DrainedLogs>;
  close(): Promise<void>;
}

export type ToWorker =
  /** wafCollections: the shared collection store's file, undefined → per-worker memory */
  | { t: 'start'; config: EdgeConfig; wafCollections?: string; shipLogs?: boolean }
  | { t: 'reload'; config: EdgeConfig }
  | { t: 'purge'; site: string; commands: PurgeCommand[] }
  | { t: 'shutdown' }
  | { t: 'metrics-drain'; id: number }
  | { t: 'logs-drain'; id: number };

export type FromWorker =
  | { t: 'ready'; address: AddressInfo; httpsAddress: AddressInfo | undefined }
  | { t: 'failed'; message: string }
  | { t: 'reload-failed'; message: string }
  /** A PURGE/BAN request purged this worker's cache: the primary runs it on every other worker. */
  | { t: 'purged'; site: string; commands: PurgeCommand[] }
  | { t: 'waf-event'; event: WafEvent }
  | { t: 'metrics'; id: number; deltas: EdgeEnvironmentDelta[] }
  | { t: 'logs'; id: number; logs: DrainedLogs }
  | { t: 'logs-ready' };

/** A free port for `host` (port 0 in the config: every worker must bind the same one). */
async function freePort(host: string): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, host, () => resolve());
  });
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Whether the kernel migrates queued connections off a closing SO_REUSEPORT listener. */
export function tcpMigrateReq(): boolean | undefined {
  try {
    return readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim() === '1';
  } catch {
    return undefined;
  }
}

const WORKER_ENTRY = fileURLToPath(new URL('./worker-main.ts', import.meta.url));

function isLoaded(c: unknown): c is EdgeConfig {
  return typeof c === 'object' && c !== null && 'listen' in c && 'port' in ((c as EdgeConfig).listen ?? {});
}

export async function startEdgeCluster(opts: EdgeClusterOptions): Promise<EdgeCluster> {
  if (!cluster.isPrimary) throw new TriplaneError('TRIPLANE_ERR_INTERNAL', 'startEdgeCluster runs in the primary only');
  const log = opts.logger ?? silentLogger();
  // The workers compile the WAF rules; the primary compiles them too (cached per rules text and file
  // stamps) so a bad rules file refuses the config here, before any worker sees it.
  const wafCompiler = new WafCompiler();
  const validateWaf = (c: EdgeConfig) => {
    c.sites.forEach((s, i) => {
      if (s.waf) wafCompiler.compile(wafRootText(s.waf), `sites[${i}].waf${s.waf.rules ? '.rules' : ''}`);
    });
  };
  let config = isLoaded(opts.config) ? opts.config : loadConfig(opts.config);
  validateWaf(config);
  const ports = {
    http: config.listen.port || (await freePort(config.listen.host)),
    https: config.listen.https ? config.listen.https.port || (await freePort(config.listen.https.host)) : undefined,
  };
  // The primary creates the shared WAF collection store (and sweeps it); workers open the file.
  let collections: SqliteCollectionStore | undefined;
  if (opts.stateDir) {
    try {
      // loaded only here: the native addon is not needed by an edge without a state dir
      const { SqliteCollectionStore } = await import('./waf-collections.ts');
      collections = SqliteCollectionStore.open(join(opts.stateDir, 'waf', 'collections.db'), { create: true, logger: log });
    } catch (e) {
      log.error({ err: e }, 'WAF collections: cannot open the shared store; each worker keeps its own in memory');
    }
  } else log.info('WAF collections: no state dir, each worker keeps its own in memory (IP counters are per worker)');
  const sweep = collections
    ? setInterval(() => {
        try {
          const n = collections?.sweep(Date.now()) ?? 0;
          if (n > 0) log.debug({ removed: n }, 'WAF collections swept');
        } catch (e) {
          log.error({ err: e }, 'WAF collections sweep failed');
        }
      }, COLLECTION_SWEEP_MS).unref()
    : undefined;
  const closeCollections = () => {
    clearInterval(sweep);
    collections?.close();
  };
  if (tcpMigrateReq() === false) {
    log.warn(
      'net.ipv4.tcp_migrate_req is 0: a rolling worker restart may reset connections queued on the old worker (run `triplane host prepare`)',
    );
  }
  /** What workers get: the primary serves metrics itself. */
  const forWorkers = (c: EdgeConfig): EdgeConfig => ({
    ...c,
    listen: {
      ...c.listen,
      port: ports.http,
      ...(c.listen.https && ports.https ? { https: { ...c.listen.https, port: ports.https } } : {}),
      metrics: undefined,
    },
  });
  const workers = new Set<Worker>();
  /** Forked, not ready yet (a respawn may be starting when close() runs). */
  const starting = new Set<Worker>();
  let closing = false;
  let address: AddressInfo | undefined;
  let httpsAddress: AddressInfo | undefined;
  const recentDeaths: number[] = [];
  /** Pending drainMetrics() calls by id. */
  const drainReplies = new Map<number, (deltas: EdgeEnvironmentDelta[]) => void>();
  let drainSeq = 0;
  const logReplies = new Map<number, (logs: DrainedLogs) => void>();

  cluster.setupPrimary({ exec: WORKER_ENTRY, silent: false });

  const spawn = (): Promise<Worker> =>
    new Promise((resolve, reject) => {
      const w = cluster.fork();
      starting.add(w);
      w.once('exit', () => starting.delete(w));
      const onMessage = (m: FromWorker) => {
        if (m.t === 'ready') {
          starting.delete(w);
          w.off('message', onMessage);
          w.off('exit', onEarlyExit);
          if (closing) {
            // close() ran while this worker was starting (a respawn): it must not outlive the primary's close
            void retire(w).then(() => resolve(w));
            return;
          }
          address ??= m.address;
          httpsAddress ??= m.httpsAddress;
          workers.add(w);
          w.on('message', (msg: FromWorker) => {
            if (msg.t === 'reload-failed') log.error({ pid: w.process.pid, reason: msg.message }, 'worker refused a config');
            if (msg.t === 'waf-event') opts.onWafEvent?.(msg.event);
            if (msg.t === 'metrics') drainReplies.get(msg.id)?.(msg.deltas);
            if (msg.t === 'logs') logReplies.get(msg.id)?.(msg.logs);
            if (msg.t === 'logs-ready') opts.onLogsReady?.();
            if (msg.t === 'purged') {
              for (const other of workers)
                if (other !== w && other.isConnected())
                  other.send({ t: 'purge', site: msg.site, commands: msg.commands } satisfies ToWorker);
            }
          });
          w.once('exit', (code, signal) => onExit(w, code, signal));
          resolve(w);
        } else if (m.t === 'failed') {
          w.off('exit', onEarlyExit);
          w.kill();
          reject(new TriplaneError('TRIPLANE_ERR_EDGE_START', `edge worker failed to start: ${m.message}`));
        }
      };
      const onEarlyExit = (code: number | null) =>
        reject(new TriplaneError('TRIPLANE_ERR_EDGE_START', `edge worker exited during start (code ${code})`));
      w.on('message', onMessage);
      w.once('exit', onEarlyExit);
      w.once('online', () =>
        w.send({
          t: 'start',
          config: forWorkers(config),
          ...(collections ? { wafCollections: collections.file } : {}),
          ...(opts.shipLogs ? { shipLogs: true } : {}),
        } satisfies ToWorker),
      );
    });

  const onExit = (w: Worker, code: number | null, signal: string | null) => {
    workers.delete(w);
    if (closing || (w as Worker & { retiring?: boolean }).retiring) return;
    const now = Date.now();
    recentDeaths.push(now);
    while (recentDeaths.length > 0 && now - recentDeaths[0]! > 60_000) recentDeaths.shift();
    const delay = Math.min(30_000, (opts.restartDelayMs ?? 200) * 2 ** (recentDeaths.length - 1));
    log.error({ pid: w.process.pid, code, signal, restartInMs: delay }, 'edge worker died; restarting');
    setTimeout(() => {
      if (closing) return;
      spawn().catch((e: unknown) => log.error({ err: (e as Error).message }, 'edge worker restart failed'));
    }, delay).unref();
  };

  const retire = (w: Worker): Promise<void> =>
    new Promise((resolve) => {
      (w as Worker & { retiring?: boolean }).retiring = true;
      if (w.isDead()) return resolve();
      w.once('exit', () => resolve());
      w.send({ t: 'shutdown' } satisfies ToWorker);
      setTimeout(() => w.kill('SIGKILL'), 10_000).unref();
    });

  try {
    await Promise.all(Array.from({ length: Math.max(1, opts.workers) }, () => spawn()));
  } catch (e) {
    closing = true;
    await Promise.all([...workers].map(retire));
    closeCollections();
    throw e;
  }

  let metricsServer: Server | undefined;
  if (config.listen.metrics) {
    const registry = new AggregatorRegistry();
    metricsServer = createServer(async (req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      try {
        const body = await registry.clusterMetrics();
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(body);
      } catch (e) {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end(`metrics unavailable: ${(e as Error).message}\n`);
      }
    });
    const m = config.listen.metrics;
    await new Promise<void>((r) => metricsServer?.listen(m.port, m.host, () => r()));
  }

  const broadcast = (msg: ToWorker) => {
    for (const w of workers) if (w.isConnected()) w.send(msg);
  };

  return {
    address: address as AddressInfo,
    httpsAddress,
    metricsAddress: metricsServer ? (metricsServer.address() as AddressInfo) : undefined,
    reload(next: unknown) {
      const loaded = isLoaded(next) ? next : loadConfig(next);
      validateWaf(loaded);
      config = loaded;
      broadcast({ t: 'reload', config: forWorkers(loaded) });
      log.info({ sites: loaded.sites.length, workers: workers.size }, 'edge config sent to workers');
    },
    purge(site, commands) {
      if (!config.sites.some((s) => s.name === site)) return undefined;
      broadcast({ t: 'purge', site, commands });
      return 0;
    },
    async restartWorkers() {
      for (const old of [...workers]) {
        await spawn();
        await retire(old);
      }
    },
    pids: () => [...workers].map((w) => w.process.pid ?? 0),
    drainMetrics() {
      const id = ++drainSeq;
      const targets = [...workers].filter((w) => w.isConnected());
      return new Promise((resolve) => {
        const parts: EdgeEnvironmentDelta[][] = [];
        let waiting = targets.length;
        const finish = () => {
          clearTimeout(timer);
          drainReplies.delete(id);
          resolve(mergeEnvironmentDeltas(parts));
        };
        // a worker that answers late (stalled, dying) loses that delta: a report never waits long
        const timer = setTimeout(finish, 2000);
        timer.unref();
        drainReplies.set(id, (deltas) => {
          parts.push(deltas);
          if (--waiting === 0) finish();
        });
        if (waiting === 0) return finish();
        for (const w of targets) w.send({ t: 'metrics-drain', id } satisfies ToWorker);
      });
    },
    drainLogs() {
      const id = ++drainSeq;
      const targets = [...workers].filter((w) => w.isConnected());
      return new Promise((resolve) => {
        const all: DrainedLogs = { lines: [], dropped: 0 };
        let waiting = targets.length;
        const finish = () => {
          clearTimeout(timer);
          logReplies.delete(id);
          resolve(all);
        };
        // a worker that answers late (stalled, dying) loses that drain's lines: shipping never waits long
        const timer = setTimeout(finish, 2000);
        timer.unref();
        logReplies.set(id, (logs) => {
          for (const l of logs.lines) all.lines.push(l);
          all.dropped += logs.dropped;
          if (--waiting === 0) finish();
        });
        if (waiting === 0) return finish();
        for (const w of targets) w.send({ t: 'logs-drain', id } satisfies ToWorker);
      });
    },
    async close() {
      closing = true;
      // a worker still starting has served nothing: stop it now, it must not outlive close()
      for (const w of starting) w.process.kill('SIGKILL');
      metricsServer?.closeAllConnections();
      metricsServer?.close();
      await Promise.all([...workers].map(retire));
      closeCollections();
    },
  };
}
