import type { Server as Http1Server, IncomingMessage, ServerResponse } from 'node:http';
import {
  createServer as createH2Server,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
  constants as h2c,
} from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from '@triplane/kernel';
import type { EdgeConfig } from '../config.ts';
import type { PemPair } from './ca.ts';
import type { CertStore } from './store.ts';

/**
 * The HTTPS listener: one TLS server (SNI → CertStore, ALPN h2 > http/1.1) that hands each
 * handshaken socket to the protocol it negotiated:
 *
 *   ALPN h2                 → an HTTP/2 session (node:http2, compat request/response API)
 *   ALPN http/1.1, no ALPN  → the plain listener's own http.Server ('connection' event)
 *
 * Handing HTTP/1.1 sockets to the same http.Server (instead of createSecureServer's allowHTTP1
 * fallback) keeps every HTTP/1.1 protection identical on both listeners by construction: parser
 * strictness, header size/count limits, header/request timeouts, the 400/408/431 `clientError`
 * answers, CONNECT/Upgrade refusal. Both protocols run the same request handler (proxy.ts).
 *
 * HTTP/2 defences (limits from `config.http2` and `config.limits`):
 *   - maxConcurrentStreams (SETTINGS), header list size = limits.maxHeaderBytes, header pairs
 *     = limits.maxHeaderCount (+ pseudo-headers; the handler answers 431 past the count);
 *   - rapid reset (CVE-2023-44487): nghttp2's RST_STREAM token bucket, set through node's
 *     streamResetBurst/streamResetRate; an exhausted bucket ends the session with GOAWAY;
 *   - preface/SETTINGS deadline: a session that has not sent its SETTINGS and acknowledged ours
 *     within limits.headersTimeoutMs is destroyed; TLS handshakes have the same deadline;
 *   - per-stream request deadline (limits.requestTimeoutMs): a body still arriving → 408 + reset;
 *   - idle sessions are closed (GOAWAY) after http2.idleTimeoutMs.
 */
export interface HttpsListenerOptions {
  host: string;
  port: number;
  /** SO_REUSEPORT, own socket even in a cluster worker (cluster.ts). */
  reusePort?: boolean;
  /** Read on every handshake: a reload swaps the store, established connections keep their certificate. */
  store: () => CertStore;
  /** Certificate for handshakes without SNI. */
  fallback: PemPair;
  /** The plain listener's server; HTTP/1.1-over-TLS sockets are emitted into it. */
  http1: Http1Server;
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  limits: EdgeConfig['limits'];
  http2: EdgeConfig['http2'];
  logger: Logger;
  /** Called for each HTTP/2 connection (HTTP/1.1 sockets are seen by http1's own 'connection' listeners). */
  onH2Connection?: (socket: Socket) => void;
}

export interface HttpsListener {
  readonly address: AddressInfo;
  /** Open HTTP/2 sessions (tests, metrics). */
  readonly sessions: ReadonlySet<Http2Session>;
  close(): Promise<void>;
}

export async function startHttpsListener(o: HttpsListenerOptions): Promise<HttpsListener> {
  const sessions = new Set<Http2Session>();
  const h2: Http2Server = createH2Server({
    settings: {
      maxConcurrentStreams: o.http2.maxConcurrentStreams,
      maxHeaderListSize: o.limits.maxHeaderBytes,
      enablePush: false,
    },
    // 4 pseudo-headers + one over the limit, so the handler sees the excess and answers 431
    maxHeaderListPairs: o.limits.maxHeaderCount + 5,
    streamResetBurst: o.http2.resetBurst,
    streamResetRate: o.http2.resetRatePerS,
  });
  h2.setTimeout(o.http2.idleTimeoutMs);
  // idle session: GOAWAY and let running streams finish (node's default would destroy them)
  h2.on('timeout', (session: Http2Session) => session.close());
  h2.on('session', (session: Http2Session) => {
    sessions.add(session);
    let pending = 2; // the client's SETTINGS and its ACK of ours
    const deadline = setTimeout(() => {
      o.logger.info({ h2: 'settings-timeout' }, 'http2 session without SETTINGS closed');
      session.destroy();
    }, o.limits.headersTimeoutMs);
    deadline.unref();
    const settled = () => {
      if (--pending === 0) clearTimeout(deadline);
    };
    session.once('remoteSettings', settled);
    session.once('localSettings', settled);
    session.on('error', (err: NodeJS.ErrnoException) => o.logger.debug({ err: err.code }, 'http2 session error'));
    session.once('close', () => {
      clearTimeout(deadline);
      sessions.delete(session);
    });
  });
  h2.on('sessionError', () => {});
  h2.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => {
    const stream = req.stream;
    let bodyDone = stream.endAfterHeaders;
    req.once('end', () => {
      bodyDone = true;
    });
    const timer = setTimeout(() => {
      if (bodyDone || res.writableEnded || stream.destroyed) return;
      // the handler's access-log line records the 408 when the response closes
      if (!res.headersSent) {
        res.writeHead(408, { 'content-length': '0', 'cache-control': 'no-store' });
        res.end();
      }
      stream.close(h2c.NGHTTP2_CANCEL);
    }, o.limits.requestTimeoutMs);
    timer.unref();
    res.once('close', () => clearTimeout(timer));
    // The compat API mirrors IncomingMessage/ServerResponse; the handler branches on httpVersionMajor === 2
    // for the few differences (:authority, pseudo-headers, connection-specific response headers).
    o.handler(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  });

  const fallback = o.fallback;
  const server = createTlsServer({
    key: fallback.keyPem,
    cert: fallback.certPem,
    SNICallback: (name, cb) => o.store().sni(name, cb),
    ALPNProtocols: ['h2', 'http/1.1'],
    minVersion: 'TLSv1.2',
    handshakeTimeout: o.limits.headersTimeoutMs,
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') {
      o.onH2Connection?.(socket);
      h2.emit('connection', socket);
    } else o.http1.emit('connection', socket);
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    o.logger.debug({ err: err.code ?? err.message, ip: socket.remoteAddress }, 'tls handshake failed');
    socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: o.port, host: o.host, reusePort: o.reusePort ?? false, exclusive: o.reusePort ?? false }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    sessions,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sessions) s.close();
        setTimeout(() => {
          for (const s of sessions) s.destroy();
        }, 2000).unref();
      });
    },
  };
}
