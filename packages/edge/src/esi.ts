import {
  type CacheRequest,
  type ClientResponse,
  type HeaderMap,
  hasEsi,
  MAX_ESI_DEPTH,
  parseEsi,
  resolveEsiSrc,
  without,
} from '@triplane/cache';
import type { CompiledConfig, CompiledSite } from './compile.ts';
import { trustedForwarding } from './forwarding.ts';
import type { ProxyDeps } from './proxy.ts';
import { ForwardError, forward, readBody } from './upstream/forward.ts';

/** Headers a fragment request inherits from the page request (same Cookie / X-Magento-Vary, spec §2.9). */
const NOT_INHERITED = [
  'accept-encoding',
  'range',
  'if-range',
  'if-none-match',
  'if-modified-since',
  'content-length',
  'content-type',
];

export interface EsiContext {
  deps: ProxyDeps;
  cfg: CompiledConfig;
  clientIp: string;
}

/**
 * Resolves `<esi:include>`s of a delivered body through the same cache pipeline and concatenates.
 * Includes are followed only to configured site hosts (never the catch-all): an include pointing
 * anywhere else is dropped (SSRF / poisoning guard, check 6.6.61).
 */
export async function assembleEsi(ctx: EsiContext, parent: CacheRequest, body: Buffer, depth = 0): Promise<Buffer> {
  const segments = parseEsi(body.toString('utf8'));
  const parts = await Promise.all(
    segments.map(async (seg): Promise<string> => {
      if (seg.kind === 'text') return seg.text;
      if (depth >= MAX_ESI_DEPTH) return '';
      const target = resolveEsiSrc(seg.src, parent.host, parent.url);
      const site = target ? ctx.cfg.byHost.get(target.host) : undefined;
      if (!target || !site) return '';
      const sub: CacheRequest = {
        method: 'GET',
        url: target.url,
        host: target.host,
        scheme: parent.scheme,
        headers: without(parent.headers, NOT_INHERITED),
        purgeAllowed: false,
      };
      const r = await internalFetch(ctx, site, sub);
      if (!r.body || r.status >= 400) return '';
      if (r.esi || hasEsi(r.body)) return (await assembleEsi(ctx, sub, r.body, depth + 1)).toString('utf8');
      return r.body.toString('utf8');
    }),
  );
  return Buffer.from(parts.join(''));
}

/** One request through a site's cache engine, answered in memory (ESI fragments). */
export async function internalFetch(ctx: EsiContext, site: CompiledSite, creq: CacheRequest): Promise<ClientResponse> {
  const fwd = trustedForwarding(ctx.clientIp, creq.scheme, creq.host);
  const engine = site.cache;
  const max = ctx.cfg.config.cache.maxObjectBytes;
  const opts = (method: string, url: string, headers: HeaderMap) => ({
    method,
    path: url,
    headers: { ...headers, ...fwd },
    body: null,
    maxBodyBytes: 0,
    connectTimeoutMs: site.config.timeouts.connectMs,
    firstByteTimeoutMs: site.config.timeouts.firstByteMs,
    retries: site.config.retries,
    now: () => ctx.deps.clock.now(),
  });
  const plainFetch = async (method: string, url: string, headers: HeaderMap): Promise<ClientResponse> => {
    try {
      const f = await forward(site.pool, opts(method, url, headers));
      const b = await readBody(f, max);
      if (!b.complete) f.res.destroy();
      return { status: f.res.statusCode ?? 502, headers: f.res.headers as HeaderMap, body: b.data, cacheStatus: 'PASS' };
    } catch {
      return { status: 503, headers: {}, body: null, cacheStatus: 'ERROR' };
    }
  };
  if (!engine) return plainFetch('GET', creq.url, creq.headers);
  let coalesce = true;
  for (let round = 0; round < 8; round++) {
    const v = engine.receive(creq, { coalesce });
    switch (v.kind) {
      case 'synth':
      case 'hit':
        if (v.kind === 'hit' && v.revalidate) void refresh(ctx, site, v.revalidate);
        return v.response;
      case 'pass':
        return plainFetch(v.origin.method, v.origin.url, v.origin.headers);
      case 'wait':
        coalesce = (await v.until) !== 'failed';
        continue;
      case 'miss': {
        let f: Awaited<ReturnType<typeof forward>>;
        try {
          f = await forward(site.pool, opts('GET', v.fetch.origin.url, v.fetch.origin.headers));
        } catch (e) {
          return engine.originError(v.fetch, e instanceof ForwardError && e.status === 504 ? 504 : 503);
        }
        const d = engine.originHeaders(v.fetch, f.res.statusCode ?? 502, f.res.headers as HeaderMap);
        if (d.kind === 'store') {
          const b = await readBody(f, d.maxBytes).catch(() => undefined);
          if (!b) {
            engine.abandon(v.fetch);
            return { status: 503, headers: {}, body: null, cacheStatus: 'ERROR' };
          }
          if (b.complete) return engine.deliver(creq, engine.originBody(v.fetch, b.data));
          engine.abandon(v.fetch);
          f.res.destroy();
          f.done();
          return { status: 502, headers: {}, body: null, cacheStatus: 'ERROR' };
        }
        if (d.kind === 'stream') {
          const b = await readBody(f, max);
          if (!b.complete) f.res.destroy();
          return { status: d.status, headers: d.headers, body: d.dropBody ? null : b.data, cacheStatus: d.cacheStatus };
        }
        f.res.resume();
        f.done();
        return d.kind === 'refreshed' ? engine.deliver(creq, d.object) : d.response;
      }
    }
  }
  return { status: 503, headers: {}, body: null, cacheStatus: 'ERROR' };
}

async function refresh(ctx: EsiContext, site: CompiledSite, fetch: import('@triplane/cache').Fetch): Promise<void> {
  const engine = site.cache!;
  try {
    const f = await forward(site.pool, {
      method: 'GET',
      path: fetch.origin.url,
      headers: { ...fetch.origin.headers, ...trustedForwarding(ctx.clientIp, fetch.req.scheme, fetch.req.host) },
      body: null,
      maxBodyBytes: 0,
      connectTimeoutMs: site.config.timeouts.connectMs,
      firstByteTimeoutMs: site.config.timeouts.firstByteMs,
      retries: site.config.retries,
      now: () => ctx.deps.clock.now(),
    });
    const d = engine.originHeaders(fetch, f.res.statusCode ?? 502, f.res.headers as HeaderMap);
    if (d.kind === 'store') {
      const b = await readBody(f, d.maxBytes).catch(() => undefined);
      if (!b) {
        engine.abandon(fetch);
        return;
      }
      if (b.complete) engine.originBody(fetch, b.data);
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
