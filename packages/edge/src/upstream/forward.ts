import { type IncomingMessage, type OutgoingHttpHeaders, request } from 'node:http';
import type { Readable } from 'node:stream';
import type { HeaderMap } from '@triplane/cache';
import type { Member } from './member.ts';
import type { Pool } from './pool.ts';

/** Origin responses up to this header size are accepted (Magento tag headers, spec §2.8). */
export const ORIGIN_MAX_HEADER_SIZE = 64 * 1024;

export type ForwardFailure = 'no-member' | 'connect' | 'connect-timeout' | 'first-byte-timeout' | 'reset' | 'body-too-large';

export class ForwardError extends Error {
  readonly kind: ForwardFailure;
  readonly member: Member | undefined;
  constructor(kind: ForwardFailure, member: Member | undefined, cause?: unknown) {
    super(`upstream ${kind}${member ? ` (${member.url})` : ''}`, { cause });
    this.kind = kind;
    this.member = member;
  }

  /** Status the client gets when no stale object can be served. */
  get status(): number {
    if (this.kind === 'no-member') return 503;
    return this.kind === 'first-byte-timeout' || this.kind === 'connect-timeout'
      ? 504
      : this.kind === 'body-too-large'
        ? 413
        : 502;
  }
}

export interface ForwardOptions {
  method: string;
  path: string;
  headers: HeaderMap;
  /** Client body to stream, or all of it already read (the WAF's); null = no body. */
  body: Readable | Buffer | null;
  /** Body byte limit; exceeding it aborts with `body-too-large`. */
  maxBodyBytes: number;
  connectTimeoutMs: number;
  firstByteTimeoutMs: number;
  /** Extra attempts on another member after a connect failure (bodyless requests only). */
  retries: number;
  now: () => number;
}

export interface Forwarded {
  res: IncomingMessage;
  member: Member;
  attempts: number;
  /** ms from the first attempt to response headers. */
  firstByteMs: number;
  /** Release the member's in-flight slot (call when the response body has ended or been abandoned). */
  done: () => void;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Sends a request to one pool member, retrying bodyless requests on connect failures. */
export async function forward(pool: Pool, opts: ForwardOptions): Promise<Forwarded> {
  const tried = new Set<Member>();
  const t0 = performance.now();
  let lastError: ForwardError | undefined;
  const canRetry = opts.body === null && IDEMPOTENT.has(opts.method);
  for (let attempt = 0; attempt <= (canRetry ? opts.retries : 0); attempt++) {
    const member = pool.pick(opts.now(), tried);
    if (!member) break;
    tried.add(member);
    member.active++;
    let released = false;
    const done = () => {
      if (!released) {
        released = true;
        member.active--;
      }
    };
    try {
      const res = await attemptOne(member, opts);
      member.recordSuccess();
      return { res, member, attempts: attempt + 1, firstByteMs: performance.now() - t0, done };
    } catch (e) {
      done();
      const fe = e instanceof ForwardError ? e : new ForwardError('connect', member, e);
      if (fe.kind === 'connect' || fe.kind === 'connect-timeout' || fe.kind === 'first-byte-timeout') {
        member.recordFailure(opts.now(), pool.passive.failures, pool.passive.ejectMs);
      }
      lastError = fe;
      if (fe.kind !== 'connect' && fe.kind !== 'connect-timeout' && fe.kind !== 'reset') break;
    }
  }
  throw lastError ?? new ForwardError('no-member', undefined);
}

function attemptOne(member: Member, opts: ForwardOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let connected = false;
    let timer: NodeJS.Timeout | undefined;
    const fail = (err: ForwardError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(err);
    };
    const req = request({
      host: member.host,
      port: member.port,
      method: opts.method,
      path: opts.path,
      headers: opts.headers as OutgoingHttpHeaders,
      agent: member.agent,
      maxHeaderSize: ORIGIN_MAX_HEADER_SIZE,
      setHost: false,
    });
    const startFirstByteTimer = () => {
      clearTimeout(timer);
      timer = setTimeout(() => fail(new ForwardError('first-byte-timeout', member)), opts.firstByteTimeoutMs);
    };
    req.on('socket', (socket) => {
      if ((socket as { connecting?: boolean }).connecting) {
        timer = setTimeout(() => fail(new ForwardError('connect-timeout', member)), opts.connectTimeoutMs);
        socket.once('connect', () => {
          connected = true;
          startFirstByteTimer();
        });
      } else {
        connected = true;
        startFirstByteTimer();
      }
    });
    req.on('response', (res) => {
      if (settled) {
        res.resume();
        return;
      }
      settled = true;
      clearTimeout(timer);
      resolve(res);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      const kind: ForwardFailure = !connected ? 'connect' : err.code === 'ECONNRESET' && !opts.body ? 'reset' : 'connect';
      fail(new ForwardError(kind, member, err));
    });
    if (Buffer.isBuffer(opts.body)) {
      if (opts.body.length > opts.maxBodyBytes) fail(new ForwardError('body-too-large', member));
      else req.end(opts.body);
    } else if (opts.body) {
      const body = opts.body;
      let bytes = 0;
      body.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > opts.maxBodyBytes) {
          fail(new ForwardError('body-too-large', member));
          return;
        }
        if (!req.write(chunk)) {
          body.pause();
          req.once('drain', () => body.resume());
        }
      });
      body.on('end', () => req.end());
      body.on('error', () => fail(new ForwardError('reset', member)));
    } else {
      req.end();
    }
  });
}

/** Reads a response body up to `max` bytes; `complete: false` when it is larger (the rest is left unread, paused). */
export function readBody(f: Forwarded, max: number): Promise<{ data: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const onData = (c: Buffer) => {
      n += c.length;
      chunks.push(c);
      if (n > max) {
        f.res.pause();
        f.res.off('data', onData);
        f.res.off('end', onEnd);
        resolve({ data: Buffer.concat(chunks), complete: false });
      }
    };
    const onEnd = () => {
      f.done();
      resolve({ data: Buffer.concat(chunks), complete: true });
    };
    f.res.on('data', onData);
    f.res.on('end', onEnd);
    f.res.on('error', (e) => {
      f.done();
      reject(e);
    });
  });
}
