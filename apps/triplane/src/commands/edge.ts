import { join } from 'node:path';
import type { Command } from 'commander';
import { usageError } from '../cli/exit.ts';

interface EdgeFlags {
  config?: string;
  api?: string;
  joinToken?: string;
  stateDir: string;
  listen: string;
  listenHttps?: string;
  listenMetrics?: string;
  workers: string;
}

/** What the command drives: the in-process edge (one worker) or the multi-process cluster. */
interface RunningEdge {
  readonly address: { address: string; port: number };
  readonly httpsAddress: { address: string; port: number } | undefined;
  reload(config: unknown): void;
  purge(site: string, commands: import('@triplane/cache').PurgeCommand[]): number | undefined;
  close(): Promise<void>;
  restartWorkers?: () => Promise<void>;
}

/**
 * `triplane edge`: the edge plane, from one of two config providers feeding the same
 * validate → compile → atomic swap path:
 *   --config FILE   a YAML or JSON file; SIGHUP reloads it (a bad file is logged, the old config keeps serving)
 *   --api URL       the control plane's snapshot, watched by long-poll; the last accepted snapshot is
 *                   kept in --state-dir so the edge starts and serves while the control plane is down;
 *                   --listen-https adds the TLS listener (HTTP/2 + HTTP/1.1), platform CA in STATE_DIR/tls
 * With --config, HTTPS comes from the file (`listen.https`; platform CA in `tls.caDir`, default DIR_OF_FILE/tls).
 * --workers N (default: one per core) runs N worker processes on SO_REUSEPORT listeners (cluster.ts);
 * SIGUSR2 replaces them one by one (rolling restart, no request dropped); 1 = everything in this process.
 * SIGTERM/SIGINT close the listeners after in-flight requests.
 */
export function registerEdge(program: Command): void {
  program
    .command('edge')
    .description('run the edge (reverse proxy + full-page cache) from a config file or the control plane')
    .option('--config <file>', 'edge config, .yaml/.yml or .json (format: docs/edge.md); SIGHUP reloads it')
    .option('--api <url>', 'control plane URL: follow its edge snapshot instead of a file')
    .option('--join-token <token>', 'one-time token from `triplane server create --role edge` (first start only)')
    .option('--state-dir <dir>', 'where the edge keeps its identity and last good snapshot', '/var/lib/triplane/edge')
    .option('--listen <host:port>', 'HTTP listener with --api', '127.0.0.1:8080')
    .option('--listen-https <host:port>', 'HTTPS listener (HTTP/2 + HTTP/1.1, SNI) with --api')
    .option('--listen-metrics <host:port>', 'Prometheus /metrics listener with --api (keep it private)')
    .option('--workers <n>', 'worker processes: a number, or "auto" = one per core', 'auto')
    .action(async (o: EdgeFlags) => {
      if (!o.config === !o.api) throw usageError('give exactly one of --config FILE or --api URL');
      if (o.config && o.listenHttps) throw usageError('--listen-https goes with --api (with --config: listen.https)');
      if (o.config && o.listenMetrics) throw usageError('--listen-metrics goes with --api (with --config: listen.metrics)');
      const { availableParallelism } = await import('node:os');
      const workers = o.workers === 'auto' ? availableParallelism() : Number(o.workers);
      if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw usageError('--workers: a number 1-256 or "auto"');
      const [
        {
          loadConfigFile,
          startEdge,
          startEdgeCluster,
          EdgeControlLink,
          yamlConfigParser,
          WafEventShipper,
          readEdgeCredential,
          EdgeMetricsPusher,
          drainEnvironmentDeltas,
          EdgeLogShipper,
          drainLogLines,
        },
        YAML,
        { createLogger },
      ] = await Promise.all([import('@triplane/edge'), import('yaml'), import('@triplane/kernel')]);
      const logger = createLogger('edge');
      let stopLink = async () => {};
      let edge: RunningEdge;
      // WAF events go to the control plane (--api mode), batched off the request path
      const shipper = o.api
        ? new WafEventShipper({ apiUrl: o.api, credential: () => readEdgeCredential(o.stateDir), logger })
        : undefined;
      // access and error lines per environment (--api mode): the request path only appends to a ring (docs/logs.md)
      let collectLogs: () => Promise<import('@triplane/edge').DrainedLogs> = async () => ({ lines: [], dropped: 0 });
      const logShipper = o.api
        ? new EdgeLogShipper({
            apiUrl: o.api,
            credential: () => readEdgeCredential(o.stateDir),
            collect: () => collectLogs(),
            logger,
          })
        : undefined;
      const logOptions = logShipper ? { shipLogs: true, onLogsReady: () => logShipper.ready() } : {};
      const onWafEvent = shipper
        ? (e: Parameters<typeof shipper.push>[0]) => {
            shipper.push(e);
            logShipper?.wafEvent(e);
          }
        : undefined;
      // per-environment traffic since the last report, for the metrics pusher (--api mode)
      let collectMetrics: () => Promise<import('@triplane/spec').EdgeEnvironmentDelta[]> = async () => [];
      const start = async (config: unknown): Promise<RunningEdge> => {
        if (workers > 1) {
          // the state dir holds the WAF's shared IP/GLOBAL collections (one SQLite file for every worker)
          const c = await startEdgeCluster({
            config,
            workers,
            logger,
            stateDir: o.stateDir,
            ...(onWafEvent ? { onWafEvent } : {}),
            ...logOptions,
          });
          collectMetrics = () => c.drainMetrics();
          collectLogs = () => c.drainLogs();
          return c;
        }
        const e = await startEdge({ config, logger, ...(onWafEvent ? { onWafEvent } : {}), ...logOptions });
        collectMetrics = async () => drainEnvironmentDeltas(e);
        collectLogs = async () => drainLogLines(e);
        return e;
      };
      if (o.config) {
        const file = o.config;
        // YAML errors name the file and line (`edge.yaml:12: sites[0].upstreams[1]: …`)
        const yaml = yamlConfigParser(YAML);
        const load = () => loadConfigFile(file, { yaml });
        edge = await start(load());
        process.on('SIGHUP', () => {
          try {
            edge.reload(load());
            logger.info({ file }, 'config reloaded');
          } catch (e) {
            logger.error({ err: e, file }, 'config rejected; the previous config keeps serving');
          }
        });
      } else {
        const base = {
          listen: {
            http: o.listen,
            ...(o.listenHttps ? { https: o.listenHttps } : {}),
            ...(o.listenMetrics ? { metrics: o.listenMetrics } : {}),
          },
          tls: { caDir: join(o.stateDir, 'tls') },
          wafLogDir: join(o.stateDir, 'waf-log'),
        };
        const link = new EdgeControlLink({
          apiUrl: o.api as string,
          stateDir: o.stateDir,
          joinToken: o.joinToken ?? process.env.TRIPLANE_JOIN_TOKEN,
          base,
          logger,
        });
        edge = await start((await link.loadPersisted()) ?? { listen: base.listen, tls: base.tls, sites: [] });
        await link.connect();
        link.run(
          (cfg) => edge.reload(cfg),
          (site, commands) => edge.purge(site, commands),
        );
        // traffic per environment to the control plane every 10 s, off the request path (docs/metrics.md)
        const metricsIntervalMs = Math.trunc(Number(process.env.TRIPLANE_METRICS_INTERVAL_MS ?? 0)) || 0;
        const pusher = new EdgeMetricsPusher({
          apiUrl: o.api as string,
          credential: () => readEdgeCredential(o.stateDir),
          collect: () => collectMetrics(),
          logger,
          // tests shorten the 10 s period
          ...(metricsIntervalMs >= 100 ? { intervalMs: metricsIntervalMs } : {}),
        });
        pusher.start();
        logShipper?.start();
        stopLink = async () => {
          await link.stop();
          await pusher.stop();
          await logShipper?.stop();
        };
      }
      process.stdout.write(`edge: listening on http://${edge.address.address}:${edge.address.port}\n`);
      if (edge.httpsAddress) {
        const { address, port } = edge.httpsAddress;
        process.stdout.write(`edge: listening on https://${address}:${port} (h2, http/1.1)\n`);
      }
      process.on('SIGUSR2', () => {
        if (!edge.restartWorkers) return;
        logger.info({ workers }, 'rolling restart of the edge workers');
        edge.restartWorkers().then(
          () => logger.info('rolling restart done'),
          (e: unknown) => logger.error({ err: e }, 'rolling restart failed'),
        );
      });
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      await stopLink();
      await edge.close();
      await shipper?.stop();
    });
}
