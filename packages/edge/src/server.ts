import { createServer, type Server, STATUS_CODES } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { MemoryStorage, type PurgeCommand } from '@triplane/cache';
import { type Clock, type Logger, silentLogger, systemClock } from '@triplane/kernel';
import { logAccess } from './access-log.ts';
import { type CompiledConfig, compileConfig, startSites, stopSites } from './compile.ts';
import { type EdgeConfig, loadConfig } from './config.ts';
import { startFastPath } from './fastpath.ts';
import { AccessLogRing } from './logs-push.ts';
import { EdgeMetrics } from './metrics.ts';
import { createHandler } from './proxy.ts';
import { purgeSite } from './purge.ts';
import { applyStaticPolicy } from './static.ts';
import { type EdgeTls, startTls } from './tls/edge-tls.ts';
import type { WafEvent } from './waf-events.ts';
import { nextRequestId } from './waf-id.ts';
import { WafLogFiles } from './waf-log.ts';

export interface EdgeHandle {
  /** Where the HTTP listener is bound (port 0 in the config → the real port). */
  readonly address: AddressInfo;
  /** Requests answered by the HTTP/1.1 cache-hit fast path, and connections it handed to node:http. */
  readonly fastPath: { readonly served: number; readonly handedOff: number };
  /** Validates and swaps in a new config; on error the old config keeps serving and the error is thrown. */
  reload(config: unknown): void;
  close(): Promise<void>;
  /** The compiled config in use (tests, admin). */
  current(): CompiledConfig;
  readonly storage: MemoryStorage;
  readonly metrics: EdgeMetrics;
  /** Access entries waiting to be shipped (`shipLogs`), drained by logs-push.ts. */
  readonly logs: AccessLogRing | undefined;
  /** Where the Prometheus listener is bound, when `listen.metrics` is configured. */
  readonly metricsAddress: AddressInfo | undefined;
  /** Where the HTTPS listener (HTTP/2 + HTTP/1.1, SNI) is bound, when `listen.https` is configured. */
  readonly httpsAddress: AddressInfo | undefined;
  /** Run purge commands on one site's cache (control-plane purges, ./purge.ts): objects removed, undefined if no such site. */
  purge(siteName: string, commands: readonly PurgeCommand[]): number | undefined;
}

export interface StartEdgeOptions {
  /** A raw config object (validated here) or an already loaded EdgeConfig. */
  config: unknown;
  logger?: Logger;
  clock?: Clock;
  /** How often node checks headers/request timeouts (ms); default 1000. */
  connectionsCheckingIntervalMs?: number;
  /**
   * Bind the public listeners with SO_REUSEPORT on their own sockets (one per edge worker process,
   * cluster.ts): the kernel spreads connections, and a worker that dies takes only its own queue down.
   */
  reusePort?: boolean;
  /** A PURGE/BAN request ran on this process's cache (cluster.ts fans it out to the other workers). */
  onPurgeRequest?: (site: string, cmd: PurgeCommand) => void;
  /** Relevant WAF transactions (a rule logged or refused), e.g. to a `WafEventShipper` (waf-events.ts). */
  onWafEvent?: (e: WafEvent) => void;
  /** Keep access entries in a ring for the log shipper (logs-push.ts); `onLogsReady`: a batch is waiting. */
  shipLogs?: boolean;
  onLogsReady?: () => void;
}

/**
 * Starts the HTTP/1.1 edge. Listener limits (header size/count, header and request timeouts)
 * come from the config at start; a reload swaps sites, routes, pools and cache rules atomically
 * (listener limits need a restart).
 */
export async function startEdge(opts: StartEdgeOptions): Promise<EdgeHandle> {
  const config: EdgeConfig = isLoaded(opts.config) ? opts.config : loadConfig(opts.config);
  const logger = opts.logger ?? silentLogger();
  const clock = opts.clock ?? systemClock;
  const storage = new MemoryStorage({ maxBytes: config.cache.maxBytes, maxObjectBytes: config.cache.maxObjectBytes });
  let compiled = compileConfig(config, storage, clock, undefined, opts.onPurgeRequest);
  const metrics = new EdgeMetrics(storage);
  const logs = opts.shipLogs ? new AccessLogRing({ onThreshold: opts.onLogsReady }) : undefined;
  startSites(compiled);
  let tls: EdgeTls | undefined;
  const wafLogs = new WafLogFiles(logger);
  const handler = createHandler({
    current: () => compiled,
    logger,
    clock,
    onAccess: (e) => {
      metrics.observe(e);
      logs?.append(e);
    },
    httpsPort: () => tls?.address.port,
    waf: {
      logs: wafLogs,
      logger,
      // refusals feed the metrics (metrics.ts); every event goes on to the caller's sink
      onEvent: (e) => {
        if (e.action === 'blocked') metrics.wafBlocked(e.site);
        opts.onWafEvent?.(e);
      },
    },
  });

  const server: Server = createServer(
    {
      maxHeaderSize: config.limits.maxHeaderBytes,
      headersTimeout: config.limits.headersTimeoutMs,
      requestTimeout: config.limits.requestTimeoutMs,
      keepAliveTimeout: config.limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: opts.connectionsCheckingIntervalMs ?? 1000,
      // Host is checked by the handler: Magento ≤2.1 sends PURGE without Host (spec §2.2); everything else → 400.
      requireHostHeader: false,
      joinDuplicateHeaders: false,
      insecureHTTPParser: false,
    },
    handler,
  );
  // A socket is counted once, whichever listener saw it first (fast-path sockets reach node:http on handoff).
  const counted = new WeakSet<Socket>();
  const countConnection = (socket: Socket) => {
    if (counted.has(socket)) return;
    counted.add(socket);
    metrics.connections.inc();
    socket.once('close', () => metrics.connections.dec());
  };
  server.on('connection', countConnection);
  // +1 so the handler can see that the limit was exceeded and answer 431 instead of silently dropping.
  server.maxHeadersCount = config.limits.maxHeaderCount + 1;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? 431
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT'
          ? 408
          : 400;
    logger.info({ access: { status, error: err.code ?? 'client-error', ip: socket.remoteAddress } }, 'access');
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  server.on('connect', (_req, socket: Socket) => {
    socket.end('HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  server.on('upgrade', (_req, socket: Socket) => {
    socket.end('HTTP/1.1 501 Not Implemented\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });

  // The plain listener is the cache-hit fast path (fastpath.ts); node:http takes every connection it can't serve.
  const fast = startFastPath({
    current: () => compiled,
    fallback: server,
    onConnection: countConnection,
    onTimeout: (socket) => logger.info({ access: { status: 408, error: 'headers-timeout', ip: socket.remoteAddress } }, 'access'),
    onAccess: (e) => {
      logAccess(logger, e);
      metrics.observe(e);
      logs?.append(e);
    },
    finalize: (site, creq, r) => {
      // plain-HTTP requests of a site that redirects to HTTPS take the slow path (it answers the redirect)
      if (site.config.httpsRedirect && tls) return undefined;
      // a WAF site's requests are inspected on the slow path (fastpath.ts also refuses them)
      if (site.waf) return undefined;
      // the same X-Request-Id the slow path sends (proxy.ts head())
      const headers = applyStaticPolicy(site.config.static, creq.url, r.status, r.headers);
      return { ...r, headers: { ...headers, 'x-request-id': nextRequestId() } };
    },
  });
  await new Promise<void>((resolve, reject) => {
    fast.server.once('error', reject);
    const reusePort = opts.reusePort ?? false;
    fast.server.listen({ port: config.listen.port, host: config.listen.host, reusePort, exclusive: reusePort }, () => {
      fast.server.off('error', reject);
      resolve();
    });
  });
  const address = fast.server.address() as AddressInfo;
  // node:http never listens itself (the fast path owns the port) but its headers/request timeout checker
  // starts on 'listening': without it, connections handed over would never get their 408.
  server.emit('listening');
  tls = await startTls({
    config,
    http1: server,
    handler,
    logger,
    reusePort: opts.reusePort ?? false,
    onH2Connection: (socket) => {
      metrics.connections.inc();
      socket.once('close', () => metrics.connections.dec());
    },
  }).catch((e: unknown) => {
    stopSites(compiled, 0);
    void fast.close();
    server.close();
    throw e;
  });
  const metricsServer = config.listen.metrics
    ? await metrics.listen(config.listen.metrics.host, config.listen.metrics.port)
    : undefined;
  logger.info({ address }, 'edge listening');

  return {
    address,
    metricsAddress: metricsServer ? (metricsServer.address() as AddressInfo) : undefined,
    httpsAddress: tls?.address,
    fastPath: fast.stats,
    metrics,
    logs,
    storage,
    current: () => compiled,
    purge: (siteName, commands) => purgeSite(compiled, siteName, commands),
    reload(next: unknown) {
      const loaded = isLoaded(next) ? next : loadConfig(next);
      // the certificate store is built before anything is swapped, and swapped with the config
      const swapCerts = tls?.prepare(loaded);
      const fresh = compileConfig(loaded, storage, clock, compiled, opts.onPurgeRequest);
      const old = compiled;
      startSites(fresh);
      compiled = fresh;
      swapCerts?.();
      stopSites(old);
      // reload (SIGHUP) reopens the WAF log files: logrotate moves them, the next line creates them
      wafLogs.reopen();
      logger.info({ sites: loaded.sites.length }, 'edge config reloaded');
    },
    async close() {
      stopSites(compiled, 0);
      metricsServer?.closeAllConnections();
      metricsServer?.close();
      // concurrently: HTTP/1.1-over-TLS sockets belong to both servers and end with the http server's close
      const tlsClosed = tls?.close();
      const fastClosed = fast.close();
      server.closeIdleConnections();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      });
      await tlsClosed;
      await fastClosed;
      await wafLogs.close();
    },
  };
}

function isLoaded(c: unknown): c is EdgeConfig {
  return (
    typeof c === 'object' &&
    c !== null &&
    'listen' in c &&
    typeof (c as EdgeConfig).listen === 'object' &&
    'port' in (c as EdgeConfig).listen
  );
}
