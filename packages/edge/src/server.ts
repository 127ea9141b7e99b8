import { createServer, type Server, STATUS_CODES } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { MemoryStorage } from '@triplane/cache';
import { type Clock, type Logger, silentLogger, systemClock } from '@triplane/kernel';
import { type CompiledConfig, compileConfig, startSites, stopSites } from './compile.ts';
import { type EdgeConfig, loadConfig } from './config.ts';
import { EdgeMetrics } from './metrics.ts';
import { createHandler } from './proxy.ts';

export interface EdgeHandle {
  /** Where the HTTP listener is bound (port 0 in the config → the real port). */
  readonly address: AddressInfo;
  /** Validates and swaps in a new config; on error the old config keeps serving and the error is thrown. */
  reload(config: unknown): void;
  close(): Promise<void>;
  /** The compiled config in use (tests, admin). */
  current(): CompiledConfig;
  readonly storage: MemoryStorage;
  readonly metrics: EdgeMetrics;
  /** Where the Prometheus listener is bound, when `listen.metrics` is configured. */
  readonly metricsAddress: AddressInfo | undefined;
}

export interface StartEdgeOptions {
  /** A raw config object (validated here) or an already loaded EdgeConfig. */
  config: unknown;
  logger?: Logger;
  clock?: Clock;
  /** How often node checks headers/request timeouts (ms); default 1000. */
  connectionsCheckingIntervalMs?: number;
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
  let compiled = compileConfig(config, storage, clock);
  const metrics = new EdgeMetrics(storage);
  startSites(compiled);

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
    createHandler({ current: () => compiled, logger, clock, onAccess: (e) => metrics.observe(e) }),
  );
  server.on('connection', (socket: Socket) => {
    metrics.connections.inc();
    socket.once('close', () => metrics.connections.dec());
  });
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

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const metricsServer = config.listen.metrics
    ? await metrics.listen(config.listen.metrics.host, config.listen.metrics.port)
    : undefined;
  logger.info({ address }, 'edge listening');

  return {
    address,
    metricsAddress: metricsServer ? (metricsServer.address() as AddressInfo) : undefined,
    metrics,
    storage,
    current: () => compiled,
    reload(next: unknown) {
      const loaded = isLoaded(next) ? next : loadConfig(next);
      const fresh = compileConfig(loaded, storage, clock, compiled);
      const old = compiled;
      startSites(fresh);
      compiled = fresh;
      stopSites(old);
      logger.info({ sites: loaded.sites.length }, 'edge config reloaded');
    },
    async close() {
      stopSites(compiled, 0);
      metricsServer?.closeAllConnections();
      metricsServer?.close();
      server.closeIdleConnections();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      });
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
