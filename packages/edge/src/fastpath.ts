import type { Server as HttpServer } from 'node:http';
import { STATUS_CODES } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { CacheRequest, ClientResponse, HeaderMap } from '@triplane/cache';
import type { AccessEntry } from './access-log.ts';
import type { CompiledConfig, CompiledSite } from './compile.ts';
import { UNTRUSTED_REQUEST_HEADERS } from './forwarding.ts';
import { normaliseHost } from './host.ts';
import { isRobotsTxt, NOINDEX_VALUE } from './noindex.ts';

/**
 * The HTTP/1.1 cache-hit fast path, in front of node:http on the plain listener.
 *
 * Why hand-written (and not just node:http): node:http builds an IncomingMessage, a ServerResponse
 * and header objects per request. Measured on the 2-vCPU bench machine with wrk -t2 -c64 and a
 * 10 KB body: node:http hello-world 22.5k req/s, a socket writing pre-serialised responses 40k+
 * req/s — node:http alone caps the edge below Varnish (32k). No library offers a faster HTTP/1.1
 * server for Node without native code.
 *
 * What keeps it safe: this parser only *accepts* a strict subset — a complete head in the bytes
 * read so far, `GET`/`HEAD`, origin-form target of visible ASCII, `HTTP/1.1`, header lines
 * `token: visible-ASCII` ending in CRLF, no duplicate field names, exactly one Host, no body
 * framing headers (Content-Length, Transfer-Encoding), no Upgrade/Expect, within the header
 * count/size limits — and it serves only fresh cache hits. Everything else (a miss, a pass, a
 * purge, a redirect, odd bytes, anything it doesn't understand) is handed, with every byte read so
 * far, to node:http (llhttp), which then owns the connection for good. So the fast path never
 * rejects anything and never interprets anything llhttp would refuse: llhttp stays the only
 * judge of hostile input.
 */

export interface FastPathDeps {
  current: () => CompiledConfig;
  /** The node:http server that takes over connections the fast path can't serve. */
  fallback: HttpServer;
  onAccess: (e: AccessEntry) => void;
  /**
   * Last chance to refuse a hit (return undefined → hand off) or adjust its headers (browser cache
   * headers, HSTS, …) exactly as the slow path would. Must be synchronous.
   */
  finalize?: (site: CompiledSite, req: CacheRequest, r: ClientResponse) => ClientResponse | undefined;
  onConnection?: (socket: Socket) => void;
  /** A head did not complete within `limits.headersTimeoutMs` (answered 408, connection closed). */
  onTimeout?: (socket: Socket) => void;
}

export interface FastPathServer {
  readonly server: Server;
  /** Stop accepting; end idle fast-path connections (all of them are between requests). */
  close(): Promise<void>;
  readonly stats: { served: number; handedOff: number };
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
/** RFC 9110 tchar. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;
const UNTRUSTED = new Set(UNTRUSTED_REQUEST_HEADERS);
/** Field names that change framing or connection semantics: never on the fast path. */
const HANDOFF_FIELDS = new Set(['content-length', 'transfer-encoding', 'upgrade', 'expect', 'http2-settings']);
/** Responses above this much queued output pause reading (node:http's default highWaterMark). */
const MAX_QUEUED = 64 * 1024;

let dateSecond = 0;
let dateValue = '';
function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}

interface Head {
  method: 'GET' | 'HEAD';
  target: string;
  headers: HeaderMap;
  host: string;
  close: boolean;
}

/**
 * Parses `buf[start, end)` (the head without its final CRLFCRLF) or returns undefined when it is
 * not in the strict subset. Exported for tests.
 */
export function parseStrictHead(buf: Buffer, start: number, end: number, maxHeaderCount: number): Head | undefined {
  let method: 'GET' | 'HEAD';
  let p = start;
  if (buf[p] === 0x47 && buf[p + 1] === 0x45 && buf[p + 2] === 0x54 && buf[p + 3] === 0x20) {
    method = 'GET';
    p += 4;
  } else if (buf[p] === 0x48 && buf[p + 1] === 0x45 && buf[p + 2] === 0x41 && buf[p + 3] === 0x44 && buf[p + 4] === 0x20) {
    method = 'HEAD';
    p += 5;
  } else return undefined;
  if (buf[p] !== 0x2f) return undefined; // origin-form only
  const tStart = p;
  while (p < end) {
    const c = buf[p]!;
    if (c === 0x20) break;
    if (c < 0x21 || c > 0x7e) return undefined;
    p++;
  }
  const target = buf.toString('latin1', tStart, p);
  // " HTTP/1.1\r\n"
  if (
    end - p < 11 ||
    buf[p] !== 0x20 ||
    buf[p + 1] !== 0x48 ||
    buf[p + 2] !== 0x54 ||
    buf[p + 3] !== 0x54 ||
    buf[p + 4] !== 0x50 ||
    buf[p + 5] !== 0x2f ||
    buf[p + 6] !== 0x31 ||
    buf[p + 7] !== 0x2e ||
    buf[p + 8] !== 0x31 ||
    buf[p + 9] !== 0x0d ||
    buf[p + 10] !== 0x0a
  ) {
    return undefined; // another version, or a request line with no header fields (no Host)
  }
  p += 11;
  const headers: HeaderMap = {};
  let count = 0;
  let host: string | undefined;
  let close = false;
  // header lines; the last one ends at `end` (its CRLF is part of the CRLFCRLF)
  while (p <= end) {
    if (++count > maxHeaderCount) return undefined;
    const nStart = p;
    while (p < end && TCHAR[buf[p]!] === 1) p++;
    if (p === nStart || buf[p] !== 0x3a) return undefined; // empty name, obs-fold, space before colon, bad byte
    const name = buf.toString('latin1', nStart, p).toLowerCase();
    p++;
    while (p < end && (buf[p] === 0x20 || buf[p] === 0x09)) p++;
    const vStart = p;
    let vEnd = p;
    while (p < end) {
      const c = buf[p]!;
      if (c === 0x0d) break;
      if ((c < 0x20 && c !== 0x09) || c > 0x7e) return undefined; // CTL, bare LF, obs-text
      p++;
      if (c !== 0x20 && c !== 0x09) vEnd = p;
    }
    if (p < end) {
      if (buf[p + 1] !== 0x0a) return undefined; // bare CR
      p += 2;
      if (p >= end) return undefined; // a CRLF right before the terminator: empty line inside the head
    } else p = end + 1;
    if (headers[name] !== undefined) return undefined; // duplicates: node's join/drop rules decide
    if (HANDOFF_FIELDS.has(name)) return undefined;
    const value = buf.toString('latin1', vStart, vEnd);
    if (name === 'host') host = value;
    else if (name === 'connection') {
      const v = value.toLowerCase();
      if (v === 'close') close = true;
      else if (v !== 'keep-alive') return undefined;
    } else if (name === 'te' || name === 'trailer' || name === 'keep-alive' || name === 'proxy-connection') {
      return undefined;
    }
    headers[name] = value;
  }
  if (host === undefined) return undefined;
  return { method, target, headers, host, close };
}

function serialise(r: ClientResponse, close: boolean): string {
  let s = `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? 'Unknown'}\r\n`;
  const h = r.headers;
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    if (typeof v === 'string') s += `${k}: ${v}\r\n`;
    else for (const x of v) s += `${k}: ${x}\r\n`;
  }
  if (h.date === undefined) s += `date: ${httpDate()}\r\n`;
  if (close) s += 'connection: close\r\n';
  return `${s}\r\n`;
}

export function startFastPath(deps: FastPathDeps): FastPathServer {
  const stats = { served: 0, handedOff: 0 };
  const owned = new Set<Socket>();
  /** Sockets that have had at least one response: idle ones can be closed without racing a request. */
  const answered = new WeakSet<Socket>();
  let closing = false;

  const server = createServer({ noDelay: true }, (socket) => {
    deps.onConnection?.(socket);
    owned.add(socket);
    let pending: Buffer | undefined;
    let headTimer: NodeJS.Timeout | undefined;
    const cfg0 = deps.current().config.limits;
    socket.setTimeout(cfg0.keepAliveTimeoutMs);

    const onTimeout = () => {
      if (pending === undefined) socket.destroy();
    };
    const onError = () => socket.destroy();
    const onClose = () => {
      owned.delete(socket);
      if (headTimer) clearTimeout(headTimer);
    };
    const onDrain = () => {
      if (pending !== undefined && headTimer === undefined) {
        const b = pending;
        pending = undefined;
        socket.resume();
        onData(b);
      }
    };

    const handoff = (rest: Buffer | undefined) => {
      if (headTimer) clearTimeout(headTimer);
      headTimer = undefined;
      pending = undefined;
      socket.pause();
      socket.removeListener('data', onData);
      socket.removeListener('timeout', onTimeout);
      socket.removeListener('error', onError);
      socket.removeListener('drain', onDrain);
      socket.setTimeout(0);
      owned.delete(socket);
      stats.handedOff++;
      if (rest && rest.length > 0) socket.unshift(rest);
      // node:http attaches its parser; buffered bytes (ours + anything read meanwhile) flow on resume,
      // before any later read (resume flushes on the next tick, reads arrive in a later I/O phase).
      deps.fallback.emit('connection', socket);
      socket.resume();
    };

    const onData = (chunk: Buffer) => {
      const buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
      pending = undefined;
      const cfg = deps.current();
      const limits = cfg.config.limits;
      let off = 0;
      while (off < buf.length) {
        if (socket.writableLength > MAX_QUEUED) {
          // the client isn't reading its responses: stop reading its requests until it does
          pending = buf.subarray(off);
          socket.pause();
          return;
        }
        const end = buf.indexOf(CRLFCRLF, off);
        if (end === -1) {
          if (buf.length - off > limits.maxHeaderBytes) return handoff(buf.subarray(off));
          pending = Buffer.from(buf.subarray(off)); // copy: don't pin the whole read buffer
          if (!headTimer) {
            // slow headers: answer what node:http's headersTimeout answers (server.ts clientError)
            headTimer = setTimeout(() => {
              headTimer = undefined;
              pending = undefined;
              deps.onTimeout?.(socket);
              socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
              socket.destroySoon();
            }, limits.headersTimeoutMs);
          }
          return;
        }
        if (headTimer) {
          clearTimeout(headTimer);
          headTimer = undefined;
        }
        if (end - off > limits.maxHeaderBytes) return handoff(buf.subarray(off));
        const t0 = performance.now();
        const head = parseStrictHead(buf, off, end, limits.maxHeaderCount);
        if (!head || !serve(cfg, socket, head, t0)) return handoff(buf.subarray(off));
        off = end + 4;
        if (head.close || closing) {
          socket.end();
          socket.removeListener('data', onData);
          return;
        }
      }
    };

    socket.on('data', onData);
    socket.on('timeout', onTimeout);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.on('drain', onDrain);
  });

  /** Serves a fresh hit; false = not servable here (nothing was written). */
  function serve(cfg: CompiledConfig, socket: Socket, head: Head, t0: number): boolean {
    const host = normaliseHost(head.host);
    if (!host || cfg.redirects.has(host)) return false;
    const site = cfg.byHost.get(host) ?? cfg.catchAll;
    // WAF sites: every request is inspected on the slow path (phases 1-2 run before the cache).
    // Password-protected sites: Basic auth runs on the slow path only, so a cached page is never
    // served here without it (basic-auth.ts). A staging site's robots.txt is the edge's own (proxy.ts).
    if (!site?.cache || site.waf || site.basicAuth || site.pool.members.length === 0) return false;
    if (site.config.noindex && isRobotsTxt(head.target)) return false;
    const headers: HeaderMap = {};
    for (const k in head.headers) if (k !== 'host' && !UNTRUSTED.has(k)) headers[k] = head.headers[k];
    const clientIp = socket.remoteAddress ?? '';
    const creq: CacheRequest = {
      method: head.method,
      url: head.target,
      host,
      scheme: 'http',
      headers,
      purgeAllowed: site.acl.allows(clientIp),
    };
    let r = site.cache.peekFresh(creq);
    if (!r || r.esi) return false;
    if (deps.finalize) {
      r = deps.finalize(site, creq, r);
      if (!r) return false;
    }
    // staging: the same header the slow path adds in proxy.ts head()
    if (site.config.noindex) r = { ...r, headers: { ...r.headers, 'x-robots-tag': NOINDEX_VALUE } };
    const body = head.method === 'HEAD' ? null : r.body;
    socket.cork();
    socket.write(serialise(r, head.close || closing), 'latin1');
    answered.add(socket);
    if (body && body.length > 0) socket.write(body);
    socket.uncork();
    stats.served++;
    const id = r.headers['x-request-id'];
    deps.onAccess({
      ...(typeof id === 'string' ? { id } : {}),
      site: site.config.name,
      method: head.method,
      host,
      url: head.target,
      status: r.status,
      cache: r.cacheStatus,
      upstream: undefined,
      attempts: 0,
      ip: clientIp,
      bytesIn: socket.bytesRead,
      bytesOut: body ? body.length : 0,
      ms: Math.round((performance.now() - t0) * 100) / 100,
      upstreamMs: undefined,
      ua: typeof head.headers['user-agent'] === 'string' ? head.headers['user-agent'] : undefined,
    });
    return true;
  }

  return {
    server,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        server.close(() => resolve());
        // An idle keep-alive connection is closed now; one that was accepted but has not sent its first
        // request yet gets up to 2 s to send it (answered with `Connection: close`): closing it at once
        // would reset a request already on its way (a rolling restart would drop it).
        for (const s of owned) if (answered.has(s) && s.writableLength === 0) s.end();
        setTimeout(() => {
          for (const s of owned) s.destroy();
        }, 2000).unref();
      }),
  };
}
