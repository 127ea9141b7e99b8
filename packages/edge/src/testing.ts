import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect } from 'node:net';

/**
 * Test helpers with real sockets on 127.0.0.1: a counting origin and a raw-socket client.
 * Shipped in src so other packages' tests (e2e, bench) can reuse them.
 */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface TestOrigin {
  readonly port: number;
  readonly url: string;
  hits: number;
  seen: SeenRequest[];
  handler: (req: SeenRequest, res: ServerResponse) => unknown;
  close(): Promise<void>;
}

export async function startOrigin(handler: TestOrigin['handler'], port = 0): Promise<TestOrigin> {
  const origin: TestOrigin = {
    port: 0,
    url: '',
    hits: 0,
    seen: [],
    handler,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() };
      if (seen.url !== '/__health') {
        origin.hits++;
        origin.seen.push(seen);
      }
      void origin.handler(seen, res);
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  const addr = server.address();
  const p = typeof addr === 'object' && addr ? addr.port : 0;
  Object.assign(origin, { port: p, url: `http://127.0.0.1:${p}` });
  return origin;
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export function httpGet(
  port: number,
  path: string,
  opts: { host?: string; method?: string; headers?: Record<string, string>; body?: string; localAddress?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        headers: { host: opts.host ?? 'a.example', ...opts.headers },
        localAddress: opts.localAddress,
        agent: false,
        setHost: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Writes raw bytes and collects everything until the server closes (or `timeoutMs`). */
export function rawRequest(port: number, bytes: string, timeoutMs = 2000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ text, closed });
    }, timeoutMs);
    sock.on('data', (d) => {
      text += d.toString('latin1');
    });
    sock.on('close', () => {
      closed = true;
      clearTimeout(timer);
      resolve({ text, closed });
    });
    sock.on('error', () => {});
    sock.write(bytes);
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 20 ms until it holds or `timeoutMs` passes; returns its last value. */
export async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(20);
  }
  return cond();
}
