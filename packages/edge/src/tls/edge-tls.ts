import type { Server as Http1Server, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { Logger } from '@triplane/kernel';
import type { EdgeConfig } from '../config.ts';
import { PlatformCa } from './ca.ts';
import { type HttpsListener, startHttpsListener } from './listener.ts';
import { CertStore } from './store.ts';

/**
 * The edge's TLS side as server.ts uses it: platform CA + certificate store + HTTPS listener.
 * `prepare` builds the next store (throws before anything is swapped) and returns its swap; the
 * listener reads the store per handshake.
 */
export interface EdgeTls {
  readonly address: AddressInfo;
  readonly ca: PlatformCa;
  readonly listener: HttpsListener;
  /** Builds the store for `config` (throws on failure); the returned function swaps it in. */
  prepare(config: EdgeConfig): () => void;
  close(): Promise<void>;
}

export interface StartTlsOptions {
  config: EdgeConfig;
  http1: Http1Server;
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  logger: Logger;
  onH2Connection?: (socket: Socket) => void;
  /** Bind with SO_REUSEPORT (one listener per edge worker process, see cluster.ts). */
  reusePort?: boolean;
}

export async function startTls(o: StartTlsOptions): Promise<EdgeTls | undefined> {
  const listen = o.config.listen.https;
  if (!listen) return undefined;
  const ca = await PlatformCa.open({ dir: o.config.tls.caDir, logger: o.logger });
  if (o.config.tls.caDir === undefined)
    o.logger.warn('tls.caDir not set: the platform CA lives in memory and changes on restart');
  const fallbackPem = await ca.fallback();
  const fallback = createSecureContext({ cert: fallbackPem.certPem, key: fallbackPem.keyPem });
  let store = CertStore.build(o.config, ca, fallback);
  void store.warm();
  // node:http arms its headersTimeout/requestTimeout checker on 'listening'. The http1 server gets its
  // sockets through 'connection' only (this listener, the plain fast path's handoff) and never listens
  // itself, so without this a slow HTTP/1.1-over-TLS client would never see its 408. Idempotent.
  if (!o.http1.listening) o.http1.emit('listening');
  const listener = await startHttpsListener({
    host: listen.host,
    port: listen.port,
    reusePort: o.reusePort ?? false,
    store: () => store,
    fallback: fallbackPem,
    http1: o.http1,
    handler: o.handler,
    limits: o.config.limits,
    http2: o.config.http2,
    logger: o.logger,
    ...(o.onH2Connection ? { onH2Connection: o.onH2Connection } : {}),
  });
  o.logger.info({ address: listener.address }, 'edge https listening');
  return {
    address: listener.address,
    ca,
    listener,
    prepare(config: EdgeConfig) {
      const next = CertStore.build(config, ca, fallback);
      return () => {
        store = next;
        void next.warm();
      };
    },
    close: () => listener.close(),
  };
}
