import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import {
  type CacheEngine,
  type CacheRequest,
  type ClientResponse,
  type Fetch,
  type HeaderMap,
  HOP_BY_HOP,
  hasEsi,
  INTERNAL_RESPONSE_HEADERS,
  joined,
  type OriginRequest,
  stripHopByHop,
  without,
} from '@triplane/cache';
import type { Clock, Logger } from '@triplane/kernel';
import type { Intervention } from '@triplane/waf';
import { type AccessEntry, logAccess } from './access-log.ts';
import { type CompiledConfig, type CompiledSite, route } from './compile.ts';
import { encodeForStore, prepareBody, prepareStream } from './compress.ts';
import { assembleEsi, type EsiContext } from './esi.ts';
import { stripUntrusted, trustedForwarding } from './forwarding.ts';
import { normaliseHost, parseTarget } from './host.ts';
import { isRobotsTxt, NOINDEX_VALUE, ROBOTS_BODY } from './noindex.ts';
import { ForwardError, type Forwarded, forward, readBody } from './upstream/forward.ts';
import { nextRequestId } from './waf-id.ts';
import { WafExchange, type WafRuntime } from './waf-request.ts';

/** Per-request bookkeeping for the access log. */
interface Ctx {
  t0: number;
  esi: EsiContext | undefined;
  site: CompiledSite | undefined;
  host: string | undefined;
  cache: string;
  upstream: string | undefined;
  attempts: number;
  upstreamMs: number | undefined;
  /** Why no upstream answered (ForwardError kind), for the error log. */
  upstreamError?: string;
  bytesOut: number;
  /** Over TLS (either protocol): scheme https for the cache key and X-Forwarded-Proto, HSTS on responses. */
  https: boolean;
  /** HTTP/2 (compat API): :authority, pseudo-headers, no connection-specific response fields. */
  h2: boolean;
  /** The request as the cache sees it, once routed (compression and static headers read it). */
  creq?: CacheRequest;
  /** Unique per request: access log, WAF log lines (`unique_id`), `X-Request-Id` to the client and the origin. */
  id: string;
  /** The request's WAF transaction, when its site has a WAF (waf-request.ts). */
  waf?: WafExchange;
  /** The request body the WAF read, to forward instead of the (consumed) client stream. */
  reqBody?: Readable | Buffer;
}

export interface ProxyDeps {
  current: () => CompiledConfig;
  logger: Logger;
  clock: Clock;
  onAccess?: (e: AccessEntry) => void;
  /** The bound HTTPS port while a TLS listener runs: plain-HTTP requests of `httpsRedirect` sites go there. */
  httpsPort?: () => number | undefined;
  /** Log files and event sink of the sites' WAFs; without it no WAF runs. */
  waf?: WafRuntime;
}

const BODYLESS_STATUS = (s: number) => s === 204 || s === 304 || (s >= 100 && s < 200);

/**
 * The request path: limits → target/Host → router → (cache engine verdicts) → upstream → client.
 * The compiled config is read once per request, so a reload never changes a request midway.
 */
export function createHandler(deps: ProxyDeps) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const cfg = deps.current();
    const ctx: Ctx = {
      t0: performance.now(),
      esi: undefined,
      site: undefined,
      host: undefined,
      cache: 'SYNTH',
      upstream: undefined,
      attempts: 0,
      upstreamMs: undefined,
      bytesOut: 0,
      https: req.httpVersionMajor === 2 || (req.socket as { encrypted?: boolean }).encrypted === true,
      h2: req.httpVersionMajor === 2,
      id: nextRequestId(),
    };
    res.on('close', () => {
      ctx.waf?.finish(res.statusCode);
      const entry: AccessEntry = {
        id: ctx.id,
        site: ctx.site?.config.name,
        method: req.method ?? '',
        host: ctx.host,
        url: req.url ?? '',
        status: res.statusCode,
        cache: ctx.cache,
        upstream: ctx.upstream,
        attempts: ctx.attempts,
        ip: req.socket.remoteAddress,
        bytesIn: req.socket.bytesRead,
        bytesOut: ctx.bytesOut,
        ms: Math.round((performance.now() - ctx.t0) * 100) / 100,
        upstreamMs: ctx.upstreamMs === undefined ? undefined : Math.round(ctx.upstreamMs * 100) / 100,
        ua: req.headers['user-agent'],
        upstreamError: ctx.upstreamError,
      };
      logAccess(deps.logger, entry);
      deps.onAccess?.(entry);
    });
    handle(deps, cfg, req, res, ctx).catch((err) => {
      deps.logger.error({ err }, 'edge request fault');
      if (!res.headersSent) plain(res, ctx, 502, 'Bad Gateway', true);
      else res.destroy();
    });
  };
}

async function handle(deps: ProxyDeps, cfg: CompiledConfig, req: IncomingMessage, res: ServerResponse, ctx: Ctx): Promise<void> {
  const limits = cfg.config.limits;
  // llhttp accepts an `HTTP/0.9` request line with fields; no origin speaks it (nginx answers 400 too)
  if (req.httpVersionMajor === 0) return plain(res, ctx, 400, 'Bad Request', true);
  let pseudo = 0; // HTTP/2 :method/:path/:scheme/:authority are not header fields
  if (ctx.h2) for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.startsWith(':')) pseudo++;
  if (req.rawHeaders.length / 2 - pseudo > limits.maxHeaderCount)
    return plain(res, ctx, 431, 'Request Header Fields Too Large', true);
  // RFC 9112 §3.2: more than one Host field → 400 (node would silently keep the first).
  let hostFields = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') hostFields++;
  }
  if (hostFields > 1) return plain(res, ctx, 400, 'Bad Request', true);
  const method = (req.method ?? 'GET').toUpperCase();
  const target = parseTarget(req.url ?? '');
  // HTTP/2 carries the authority in :authority; an absolute :path is malformed (RFC 9113 §8.3.1)
  if (!target || (ctx.h2 && target.authority)) return plain(res, ctx, 400, 'Bad Request', true);
  // Absolute-form authority replaces Host (RFC 9112 §3.2.2) — except for PURGE/BAN, whose plugins
  // put the cache's address in the URL and the site in Host (spec §3.4).
  const purgeLike = method === 'PURGE' || method === 'BAN';
  const authority = ctx.h2 ? (req.headers[':authority'] as string | undefined) : undefined;
  // a Host field that disagrees with :authority is a smuggling attempt, not a hint
  if (authority && req.headers.host && normaliseHost(authority) !== normaliseHost(req.headers.host))
    return plain(res, ctx, 400, 'Bad Request', true);
  const rawHost = target.authority && !purgeLike ? target.authority : (authority ?? req.headers.host);
  const host = normaliseHost(rawHost);
  ctx.host = host;
  const clientIp = req.socket.remoteAddress ?? '';
  if (!host && !(purgeLike && rawHost === undefined)) return plain(res, ctx, 400, 'Bad Request', true);
  const redirectTo = host ? cfg.redirects.get(host) : undefined;
  if (redirectTo && !purgeLike) {
    return redirect(res, ctx, 301, `${ctx.https ? 'https' : 'http'}://${redirectTo}${target.path}`);
  }
  let site = host ? route(cfg, host) : undefined;
  // Tag purges (Magento sends Host = the cache's own address, or none) are not host-scoped: any site
  // whose purge ACL admits the client may run them against the shared storage.
  if (!site && purgeLike) site = cfg.sites.find((s) => s.cache && s.acl.allows(clientIp));
  if (!site && purgeLike) return plain(res, ctx, 405, 'Method Not Allowed', false);
  if (!site) return plain(res, ctx, 421, 'Misdirected Request', false);
  ctx.site = site;
  ctx.esi = { deps, cfg, clientIp };
  // Plain HTTP → HTTPS, before the cache: an http request never fills or reads it. Purges (plugins talk
  // plain HTTP to the edge) and ACME HTTP-01 challenges stay on HTTP.
  const httpsPort = !ctx.https && site.config.httpsRedirect ? deps.httpsPort?.() : undefined;
  if (httpsPort !== undefined && !purgeLike && !target.path.startsWith('/.well-known/acme-challenge/')) {
    const authorityOut = `${host ?? site.config.hosts[0]}${httpsPort === 443 ? '' : `:${httpsPort}`}`;
    // 308 keeps the method and body of a POST; 301 is what every client understands for GET/HEAD
    return redirect(res, ctx, method === 'GET' || method === 'HEAD' ? 301 : 308, `https://${authorityOut}${target.path}`);
  }
  // Staging: the edge's own robots.txt, before auth and the cache (noindex.ts).
  if (site.config.noindex && (method === 'GET' || method === 'HEAD') && isRobotsTxt(target.path)) {
    return robots(res, ctx, method === 'HEAD');
  }
  // Basic auth before the cache and the WAF: an unauthenticated request reaches neither. PURGE/BAN
  // (IP-allowed, from the app server) and ACME HTTP-01 challenges are exempt.
  let authorized = false;
  if (site.basicAuth && !purgeLike && !target.path.startsWith('/.well-known/acme-challenge/')) {
    const raw = req.headers.authorization;
    const verdict = await site.basicAuth.verify(typeof raw === 'string' ? raw : undefined);
    if (verdict === 'busy') return plain(res, ctx, 503, 'Service Unavailable', hasBody(req), { 'retry-after': '1' });
    if (verdict === 'denied') return unauthorized(res, ctx, site.basicAuth.challenge, hasBody(req));
    authorized = true;
  }
  // A stopped environment (no members) answers 503 — cached pages included (snapshot contract).
  if (site.pool.members.length === 0 && !purgeLike) return plain(res, ctx, 503, 'Service Unavailable', false);
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > site.config.maxBodyBytes) return plain(res, ctx, 413, 'Payload Too Large', true);

  const scheme = ctx.https ? 'https' : 'http';
  const headers = stripUntrusted(req.headers as HeaderMap);
  delete headers.host;
  // The edge's credentials end here: WordPress would try them as an application password (and
  // refuse REST calls), and the cache passes every request with Authorization (nothing cached).
  if (authorized) delete headers.authorization;
  if (ctx.h2) for (const k of Object.keys(headers)) if (k.startsWith(':')) delete headers[k];
  const siteHost = host ?? site.config.hosts[0] ?? '';
  const creq: CacheRequest = {
    method,
    url: target.path,
    host: siteHost,
    scheme,
    headers,
    purgeAllowed: site.acl.allows(clientIp),
  };
  ctx.creq = creq;
  const fwd: HeaderMap = { ...trustedForwarding(clientIp, scheme, siteHost), 'x-request-id': ctx.id };
  const engine = site.cache;

  // WAF phases 1-2 before the cache: a refused request never reaches the cache or the origin.
  // PURGE/BAN are answered by the edge itself (never forwarded) and CRS would flag their method.
  if (site.waf && deps.waf && !purgeLike) {
    const w = await WafExchange.start(
      deps.waf,
      site.waf,
      { name: site.config.name, environmentId: site.config.environmentId },
      req,
      ctx.id,
      hasBody(req),
    );
    ctx.waf = w.exchange;
    if (w.verdict) return refuse(res, ctx, w.verdict, w.unread);
    if (w.body) ctx.reqBody = w.body;
  }

  if (!engine) {
    if (method === 'PURGE' || method === 'BAN' || method === 'PRI') return plain(res, ctx, 405, 'Method Not Allowed', false);
    ctx.cache = 'PASS';
    return pass(
      deps,
      site,
      req,
      res,
      ctx,
      creq,
      { method, url: target.path, headers: hopFree(headers), forwardBody: true },
      fwd,
      undefined,
    );
  }

  let coalesce = true;
  for (let round = 0; round < 8; round++) {
    const v = engine.receive(creq, { coalesce });
    switch (v.kind) {
      case 'synth':
        ctx.cache = v.response.cacheStatus;
        return write(res, ctx, v.response);
      case 'pass':
        ctx.cache = 'PASS';
        return pass(deps, site, req, res, ctx, creq, v.origin, fwd, engine);
      case 'hit':
        ctx.cache = v.response.cacheStatus;
        if (v.revalidate) void background(deps, site, engine, v.revalidate, fwd);
        return write(res, ctx, v.response, creq);
      case 'wait': {
        const outcome = await v.until;
        coalesce = outcome !== 'failed';
        continue;
      }
      case 'miss':
        ctx.cache = v.fetch.mode === 'hfm' ? 'HFM' : 'MISS';
        return miss(deps, site, engine, v.fetch, res, ctx, fwd);
    }
  }
  return plain(res, ctx, 503, 'Service Unavailable', false);
}

const HOP = new Set(HOP_BY_HOP);
const INTERNAL = new Set(INTERNAL_RESPONSE_HEADERS);

/** `stripHopByHop`, without its copy when there is nothing to strip (most requests). */
function hopFree(h: HeaderMap): HeaderMap {
  if (h.connection !== undefined) return stripHopByHop(h);
  for (const k of HOP_BY_HOP) if (h[k] !== undefined) return stripHopByHop(h);
  return h;
}

/** `sanitizeResponseHeaders` (hop-by-hop, nominated and internal fields removed) in one pass. */
function sanitizeResponse(h: HeaderMap): HeaderMap {
  const conn = h.connection;
  const nominated =
    conn === undefined
      ? undefined
      : joined(conn)!
          .split(',')
          .map((s) => s.trim().toLowerCase())
          .filter(Boolean);
  const out: HeaderMap = {};
  for (const k in h) {
    const v = h[k];
    if (v === undefined || HOP.has(k) || INTERNAL.has(k) || nominated?.includes(k)) continue;
    out[k] = v;
  }
  return out;
}

function originHeaders(o: OriginRequest, fwd: HeaderMap): HeaderMap {
  return { ...o.headers, ...fwd };
}

function forwardOpts(deps: ProxyDeps, site: CompiledSite, o: OriginRequest, fwd: HeaderMap, body: Readable | Buffer | null) {
  return {
    method: o.method,
    path: o.url,
    headers: originHeaders(o, fwd),
    body,
    maxBodyBytes: site.config.maxBodyBytes,
    connectTimeoutMs: site.config.timeouts.connectMs,
    firstByteTimeoutMs: site.config.timeouts.firstByteMs,
    retries: site.config.retries,
    now: () => deps.clock.now(),
  };
}

function hasBody(req: IncomingMessage): boolean {
  // HTTP/2 bodies need neither Content-Length nor Transfer-Encoding: DATA frames follow unless HEADERS ended the stream
  if (req.httpVersionMajor === 2) return !(req as unknown as { stream: { endAfterHeaders: boolean } }).stream.endAfterHeaders;
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? '0') > 0;
}

async function pass(
  deps: ProxyDeps,
  site: CompiledSite,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: Ctx,
  creq: CacheRequest,
  o: OriginRequest,
  fwd: HeaderMap,
  engine: CacheEngine | undefined,
): Promise<void> {
  let f: Forwarded;
  try {
    const body = o.forwardBody ? (ctx.reqBody ?? (hasBody(req) ? req : null)) : null;
    f = await forward(site.pool, forwardOpts(deps, site, o, fwd, body));
  } catch (e) {
    const fe = e instanceof ForwardError ? e : new ForwardError('connect', undefined, e);
    ctx.upstream = fe.member?.url;
    ctx.upstreamError = fe.kind;
    if (fe.kind === 'body-too-large') return plain(res, ctx, 413, 'Payload Too Large', true);
    return write(res, ctx, engine ? engine.errorResponse(fe.status) : synthPlain(fe.status));
  }
  note(ctx, f);
  const status = f.res.statusCode ?? 502;
  // phases 3-4 on what the origin answered (the body is streamed, not inspected)
  const verdict = ctx.waf
    ? (ctx.waf.responseHeaders(status, f.res.rawHeaders, f.res.httpVersion) ?? ctx.waf.responseBody())
    : undefined;
  if (verdict) {
    f.res.destroy();
    f.done();
    return refuse(res, ctx, verdict, false);
  }
  const headers = engine
    ? engine.passResponse(creq, status, f.res.headers as HeaderMap)
    : sanitizeResponse(f.res.headers as HeaderMap);
  stream(res, ctx, f, status, headers, creq.method === 'HEAD' || BODYLESS_STATUS(status));
}

async function miss(
  deps: ProxyDeps,
  site: CompiledSite,
  engine: CacheEngine,
  fetch: Fetch,
  res: ServerResponse,
  ctx: Ctx,
  fwd: HeaderMap,
): Promise<void> {
  let f: Forwarded;
  try {
    f = await forward(site.pool, forwardOpts(deps, site, fetch.origin, fwd, null));
  } catch (e) {
    const fe = e instanceof ForwardError ? e : new ForwardError('connect', undefined, e);
    ctx.upstream = fe.member?.url;
    ctx.upstreamError = fe.kind;
    // Varnish parity on the cached path (spec §1.12): unreachable origin → 503 "Backend fetch failed", Retry-After: 5.
    const r = engine.originError(fetch, fe.status === 502 ? 503 : fe.status);
    ctx.cache = r.cacheStatus;
    return write(res, ctx, r);
  }
  note(ctx, f);
  const status = f.res.statusCode ?? 502;
  if (ctx.waf?.responseHeaders(status, f.res.rawHeaders, f.res.httpVersion)) {
    // refused in phase 3: nothing is stored, waiters fetch for themselves (and are inspected)
    f.res.destroy();
    f.done();
    engine.abandon(fetch);
    return refuse(res, ctx, ctx.waf.tx.intervention as Intervention, false);
  }
  const d = engine.originHeaders(fetch, status, f.res.headers as HeaderMap);
  // phase 4 with the body when it is read to be stored, else without it
  if (d.kind !== 'store' && ctx.waf?.responseBody()) {
    f.res.destroy();
    f.done();
    engine.abandon(fetch);
    return refuse(res, ctx, ctx.waf.tx.intervention as Intervention, false);
  }
  switch (d.kind) {
    case 'stream': {
      const noBody = d.dropBody || BODYLESS_STATUS(d.status);
      if (d.esi && !noBody) {
        const body = await readBody(f, deps.current().config.cache.maxObjectBytes);
        if (body.complete) {
          const headers = without(d.headers, ['content-length', 'etag']);
          return write(
            res,
            ctx,
            { status: d.status, headers, body: body.data, cacheStatus: d.cacheStatus, esi: hasEsi(body.data) },
            fetch.req,
          );
        }
        return stream(res, ctx, f, d.status, d.headers, false, body.data);
      }
      return stream(res, ctx, f, d.status, d.headers, noBody);
    }
    case 'refreshed':
      f.res.resume();
      f.done();
      return write(res, ctx, engine.deliver(fetch.req, d.object), fetch.req);
    case 'stale':
      f.res.resume();
      f.done();
      ctx.cache = 'STALE';
      return write(res, ctx, d.response, fetch.req);
    case 'store': {
      const body = await readBody(f, d.maxBytes).catch((e: unknown) => {
        engine.abandon(fetch);
        throw e;
      });
      const refused = ctx.waf?.responseBody(body.complete ? body.data : undefined);
      if (refused) {
        if (!body.complete) f.res.destroy();
        engine.abandon(fetch);
        return refuse(res, ctx, refused, false);
      }
      if (body.complete) {
        const encoded = await encodeForStore(engine, fetch, body.data);
        return write(res, ctx, engine.deliver(fetch.req, engine.originBody(fetch, body.data, encoded)), fetch.req);
      }
      // too large to store: release waiters (HFM) and stream what we have plus the rest
      engine.abandon(fetch);
      ctx.cache = 'MISS';
      // same header treatment as an uncacheable response (profile delivery hook, no Set-Cookie replay risk: not stored)
      const headers = engine.passResponse(fetch.req, status, f.res.headers as HeaderMap);
      return stream(res, ctx, f, status, headers, fetch.req.method === 'HEAD', body.data);
    }
  }
}

/** Graced hit: refresh in the background, one per key (the engine guarantees that). */
async function background(deps: ProxyDeps, site: CompiledSite, engine: CacheEngine, fetch: Fetch, fwd: HeaderMap): Promise<void> {
  try {
    const f = await forward(site.pool, forwardOpts(deps, site, fetch.origin, fwd, null));
    const d = engine.originHeaders(fetch, f.res.statusCode ?? 502, f.res.headers as HeaderMap);
    if (d.kind === 'store') {
      const body = await readBody(f, d.maxBytes).catch((e: unknown) => {
        engine.abandon(fetch);
        throw e;
      });
      if (body.complete) engine.originBody(fetch, body.data, await encodeForStore(engine, fetch, body.data));
      else {
        engine.abandon(fetch);
        f.res.destroy();
        f.done();
      }
    } else {
      f.res.resume();
      f.done();
    }
  } catch {
    engine.originError(fetch);
  }
}

function note(ctx: Ctx, f: Forwarded): void {
  ctx.upstream = f.member.url;
  ctx.attempts = f.attempts;
  ctx.upstreamMs = f.firstByteMs;
}

function stream(
  res: ServerResponse,
  ctx: Ctx,
  f: Forwarded,
  status: number,
  headers: HeaderMap,
  noBody: boolean,
  prefix?: Buffer,
): void {
  const out = prepareStream(ctx.site?.config, ctx.creq, status, headers, noBody);
  const h = clean(out.headers);
  if (noBody) {
    f.res.resume();
    f.res.on('end', f.done);
    head(res, ctx, status, h);
    res.end();
    return;
  }
  head(res, ctx, status, h);
  // compressed: origin → encoder → client, counting what the client receives
  const sink = out.encoder ?? res;
  if (out.encoder) {
    out.encoder.on('data', (c: Buffer) => {
      ctx.bytesOut += c.length;
    });
    out.encoder.on('error', () => {
      f.res.destroy();
      f.done();
      res.destroy();
    });
    out.encoder.pipe(res);
    // a client gone mid-stream: free the zlib state now, not at GC
    res.once('close', () => out.encoder?.destroy());
  }
  if (prefix?.length) {
    if (!out.encoder) ctx.bytesOut += prefix.length;
    sink.write(prefix);
  }
  f.res.on('data', (c: Buffer) => {
    if (!out.encoder) ctx.bytesOut += c.length;
  });
  f.res.on('end', f.done);
  f.res.on('error', () => {
    f.done();
    res.destroy();
  });
  res.on('close', () => {
    if (!f.res.complete) {
      f.res.destroy();
      f.done();
    }
  });
  f.res.pipe(sink);
  f.res.resume();
}

function clean(h: HeaderMap): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const k in h) {
    const v = h[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

async function write(res: ServerResponse, ctx: Ctx, r: ClientResponse, creq?: CacheRequest): Promise<void> {
  let body = r.body;
  let h = r.headers;
  const assembled = r.esi === true && body !== null && creq !== undefined && ctx.esi !== undefined;
  if (assembled && body && creq && ctx.esi) {
    body = await assembleEsi(ctx.esi, creq, body);
    h = { ...h, 'content-length': String(body.length) };
  }
  // static browser-cache headers; compression of an assembled ESI page (stored objects come encoded)
  const out = await prepareBody(ctx.site?.config, ctx.creq, r.status, h, body, assembled);
  body = out.body;
  const headers = clean(out.headers);
  head(res, ctx, r.status, headers);
  if (body) ctx.bytesOut += body.length;
  res.end(body ?? undefined);
}

function synthPlain(status: number): ClientResponse {
  const body = Buffer.from(
    `${status} ${status === 504 ? 'Gateway Timeout' : status === 503 ? 'Service Unavailable' : 'Bad Gateway'}\n`,
  );
  return {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(body.length) },
    body,
    cacheStatus: 'ERROR',
  };
}

/**
 * A request or response the WAF refused (block mode): a plain page naming the request id, which
 * support can find in the WAF log; never which rule matched. `close` when the request body was
 * not read to its end.
 */
function refuse(res: ServerResponse, ctx: Ctx, iv: Intervention, close: boolean): void {
  ctx.cache = 'SYNTH';
  if (iv.action === 'drop') {
    res.socket?.destroy();
    return;
  }
  if (iv.action === 'redirect' && iv.url) {
    const body = Buffer.from('302 Found\n');
    ctx.bytesOut += body.length;
    head(res, ctx, 302, {
      location: iv.url,
      'content-length': String(body.length),
      'content-type': 'text/plain',
      'cache-control': 'no-store',
    });
    res.end(body);
    return;
  }
  const status = iv.status >= 400 && iv.status <= 599 ? iv.status : 403;
  const body = Buffer.from(
    `${status} ${status === 403 ? 'Forbidden' : 'Request refused'}\n\nThis request was blocked by the security rules of this site.\nRequest id: ${ctx.id}\n`,
  );
  const headers: Record<string, string> = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(body.length),
    'cache-control': 'no-store',
  };
  if (close) headers.connection = 'close';
  ctx.bytesOut += body.length;
  head(res, ctx, status, headers);
  res.end(body);
}

/** A generic local answer; reveals nothing about other sites. */
function plain(
  res: ServerResponse,
  ctx: Ctx,
  status: number,
  text: string,
  close: boolean,
  extra: Record<string, string> = {},
): void {
  const body = Buffer.from(`${status} ${text}\n`);
  const headers: Record<string, string> = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(body.length),
    'cache-control': 'no-store',
    ...extra,
  };
  if (close) headers.connection = 'close';
  ctx.bytesOut += body.length;
  head(res, ctx, status, headers);
  res.end(body);
}

/** Basic auth refused (basic-auth.ts): never cached; `close` when the request body was not read. */
function unauthorized(res: ServerResponse, ctx: Ctx, challenge: string, close: boolean): void {
  plain(res, ctx, 401, 'Unauthorized', close, { 'www-authenticate': challenge });
}

/** A staging site's robots.txt (noindex.ts): nothing may be crawled. */
function robots(res: ServerResponse, ctx: Ctx, headOnly: boolean): void {
  ctx.cache = 'SYNTH';
  if (!headOnly) ctx.bytesOut += ROBOTS_BODY.length;
  head(res, ctx, 200, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(ROBOTS_BODY.length),
    'cache-control': 'no-cache',
  });
  res.end(headOnly ? undefined : ROBOTS_BODY);
}

function redirect(res: ServerResponse, ctx: Ctx, status: 301 | 308, location: string): void {
  const body = Buffer.from(`${status} ${status === 301 ? 'Moved Permanently' : 'Permanent Redirect'}\n`);
  ctx.cache = 'SYNTH';
  ctx.bytesOut += body.length;
  head(res, ctx, status, { location, 'content-length': String(body.length), 'content-type': 'text/plain' });
  res.end(body);
}

/** Connection-specific fields, forbidden in HTTP/2 (RFC 9113 §8.2.2); node throws on them. */
const H2_FORBIDDEN = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'];

/** Every response head goes out here: HTTP/2 hygiene, and HSTS on HTTPS responses of sites that ask for it. */
function head(res: ServerResponse, ctx: Ctx, status: number, headers: Record<string, string | string[]>): void {
  if (ctx.h2) {
    for (const k of H2_FORBIDDEN) delete headers[k];
    if (headers.te !== undefined && headers.te !== 'trailers') delete headers.te;
  }
  const hsts = ctx.https ? ctx.site?.config.hsts : undefined;
  if (hsts) headers['strict-transport-security'] = hsts;
  // staging: every response for the site's hosts, whatever its origin (noindex.ts)
  if (ctx.site?.config.noindex) headers['x-robots-tag'] = NOINDEX_VALUE;
  headers['x-request-id'] = ctx.id;
  res.writeHead(status, headers);
}
