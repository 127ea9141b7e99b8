import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { profileNames } from '@triplane/cache';
import { TriplaneError } from '@triplane/kernel';
import { BASIC_AUTH_HASH_PATTERN } from '@triplane/spec';
import { parseCidr } from './cidr.ts';
import { DEFAULT_STATIC_EXTENSIONS, DEFAULT_STATIC_MAX_AGE_S, type StaticPolicy } from './static.ts';
import { checkPemPair } from './tls/pem.ts';
import { resolveWaf, SiteWafConfig, type WafSettings } from './waf-config.ts';

/**
 * The edge's standalone configuration (`triplane edge --config FILE`), a JSON/YAML-shaped object.
 * Immutable once loaded; `compile.ts` turns it into running objects that are swapped atomically.
 *
 * Example:
 *   { "listen": { "http": "127.0.0.1:8080" },
 *     "sites": [{ "name": "shop", "hosts": ["shop.example.test"],
 *                 "upstreams": ["http://127.0.0.1:9001", "http://127.0.0.1:9002"],
 *                 "cache": { "profile": "wordpress" }, "purge": { "allow": ["127.0.0.1/32"] } }] }
 */
const Ms = (d: number, min = 1) => Type.Optional(Type.Integer({ minimum: min, default: d }));

export const SiteCacheConfig = Type.Object(
  {
    profile: Type.Union([
      Type.Literal('off'),
      Type.Literal('generic'),
      Type.Literal('wordpress'),
      Type.Literal('woocommerce'),
      Type.Literal('magento'),
    ]),
    cacheStatic: Type.Optional(Type.Boolean()),
    gracePeriodS: Type.Optional(Type.Integer({ minimum: 0 })),
    nginxHelper: Type.Optional(Type.Boolean()),
    bypassCookies: Type.Optional(Type.Array(Type.String())),
    bypassPaths: Type.Optional(Type.Array(Type.String())),
    wooPages: Type.Optional(Type.Array(Type.String())),
    defaultTtlS: Type.Optional(Type.Integer({ minimum: 0 })),
    graceS: Type.Optional(Type.Integer({ minimum: 0 })),
    keepS: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);

export const HealthCheckConfig = Type.Object(
  {
    path: Type.String({ pattern: '^/' }),
    host: Type.Optional(Type.String()),
    intervalMs: Ms(5000, 50),
    timeoutMs: Ms(2000, 10),
    healthyThreshold: Ms(2),
    unhealthyThreshold: Ms(3),
    expectStatusMin: Type.Optional(Type.Integer({ minimum: 100, maximum: 599 })),
    expectStatusMax: Type.Optional(Type.Integer({ minimum: 100, maximum: 599 })),
  },
  { additionalProperties: false },
);

export const SiteTlsConfig = Type.Object(
  {
    cert: Type.Optional(Type.String({ minLength: 1 })),
    key: Type.Optional(Type.String({ minLength: 1 })),
    certPem: Type.Optional(Type.String({ minLength: 1 })),
    keyPem: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export const HstsConfig = Type.Object(
  {
    maxAgeS: Type.Integer({ minimum: 0 }),
    includeSubDomains: Type.Optional(Type.Boolean()),
    preload: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const SiteConfig = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9-]*$', maxLength: 63 }),
    hosts: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { minItems: 1 }),
    /** Empty = the environment is stopped: every request answers 503. */
    upstreams: Type.Array(Type.String()),
    cache: Type.Optional(SiteCacheConfig),
    purge: Type.Optional(Type.Object({ allow: Type.Array(Type.String()) }, { additionalProperties: false })),
    lb: Type.Optional(
      Type.Object(
        { policy: Type.Union([Type.Literal('round-robin'), Type.Literal('least-connections')]) },
        { additionalProperties: false },
      ),
    ),
    healthCheck: Type.Optional(HealthCheckConfig),
    passive: Type.Optional(Type.Object({ failures: Ms(3), ejectMs: Ms(10_000) }, { additionalProperties: false })),
    timeouts: Type.Optional(Type.Object({ connectMs: Ms(5000), firstByteMs: Ms(60_000) }, { additionalProperties: false })),
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 5 })),
    maxBodyBytes: Type.Optional(Type.Integer({ minimum: 0 })),
    /** PEM files (`cert`/`key`, relative to the config file) or inline PEM (`certPem`/`keyPem`). */
    tls: Type.Optional(SiteTlsConfig),
    /** Plain-HTTP requests answer 301 (GET/HEAD) / 308 to https; default true when `listen.https` is set. */
    httpsRedirect: Type.Optional(Type.Boolean()),
    /** Strict-Transport-Security on HTTPS responses; off unless set. */
    hsts: Type.Optional(HstsConfig),
    /** br/gzip at delivery (docs/edge.md "Compression and static assets"); both on by default. */
    compression: Type.Optional(
      Type.Object(
        {
          gzip: Type.Optional(Type.Boolean()),
          brotli: Type.Optional(Type.Boolean()),
          minBytes: Type.Optional(Type.Integer({ minimum: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Browser-cache headers for static files the origin sent without Cache-Control; `maxAgeS: 0` = off. */
    static: Type.Optional(
      Type.Object(
        {
          maxAgeS: Type.Optional(Type.Integer({ minimum: 0 })),
          immutable: Type.Optional(Type.Boolean()),
          extensions: Type.Optional(Type.Array(Type.String({ pattern: '^\\.?[A-Za-z0-9]{1,16}$' }))),
        },
        { additionalProperties: false },
      ),
    ),
    /** Web application firewall (OWASP CRS by default); docs/edge.md "WAF". */
    waf: Type.Optional(SiteWafConfig),
    /** The control-plane environment this site serves (set by configFromSnapshot; labels WAF events). */
    environmentId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    /** Staging: `X-Robots-Tag: noindex, nofollow` on every response, `/robots.txt` → `Disallow: /` (noindex.ts). */
    noindex: Type.Optional(Type.Boolean()),
    /**
     * HTTP Basic auth for every host of the site (basic-auth.ts); `hash` is `scrypt:N:r:p:salt:key`
     * (docs/edge.md "Staging: noindex and password protection"), never the password. `realm` defaults to the site name.
     */
    basicAuth: Type.Optional(
      Type.Object(
        {
          realm: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[ !#-\\[\\]-~]+$' })),
          user: Type.String({ minLength: 1, maxLength: 64, pattern: '^[!-9;-~]+$' }),
          hash: Type.String({ pattern: BASIC_AUTH_HASH_PATTERN }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const EdgeConfigSchema = Type.Object(
  {
    listen: Type.Object(
      {
        http: Type.String(),
        https: Type.Optional(Type.String({ description: 'host:port of the TLS listener (HTTP/2 and HTTP/1.1)' })),
        metrics: Type.Optional(Type.String({ description: 'host:port of the Prometheus listener' })),
      },
      { additionalProperties: false },
    ),
    limits: Type.Optional(
      Type.Object(
        {
          maxHeaderBytes: Ms(16 * 1024, 1024),
          maxHeaderCount: Ms(100),
          headersTimeoutMs: Ms(10_000),
          requestTimeoutMs: Ms(60_000),
          keepAliveTimeoutMs: Ms(5_000),
        },
        { additionalProperties: false },
      ),
    ),
    cache: Type.Optional(
      Type.Object(
        { maxBytes: Ms(256 * 1024 * 1024, 1024), maxObjectBytes: Ms(16 * 1024 * 1024, 1) },
        { additionalProperties: false },
      ),
    ),
    debugHeaders: Type.Optional(Type.Boolean()),
    /** Platform CA directory (ca.key, ca.crt); relative to the config file. */
    tls: Type.Optional(Type.Object({ caDir: Type.Optional(Type.String({ minLength: 1 })) }, { additionalProperties: false })),
    /** HTTP/2 limits on the TLS listener (rationale in docs/edge.md, "TLS and HTTP/2"). */
    http2: Type.Optional(
      Type.Object(
        {
          maxConcurrentStreams: Ms(128),
          resetBurst: Ms(200),
          resetRatePerS: Ms(33),
          idleTimeoutMs: Ms(60_000),
        },
        { additionalProperties: false },
      ),
    ),
    sites: Type.Array(SiteConfig),
    /** Hosts answered with a 301 to the same path on another host (non-primary domains). */
    redirects: Type.Optional(
      Type.Array(Type.Object({ host: Type.String(), to: Type.String() }, { additionalProperties: false })),
    ),
  },
  { additionalProperties: false },
);

export type EdgeConfigInput = Static<typeof EdgeConfigSchema>;
export type SiteConfigInput = Static<typeof SiteConfig>;

/** A validated config with every default filled in. */
export interface EdgeConfig {
  listen: {
    host: string;
    port: number;
    metrics: { host: string; port: number } | undefined;
    https: { host: string; port: number } | undefined;
  };
  /** caDir undefined: an in-memory platform CA for this process (no file, no baseDir given). */
  tls: { caDir: string | undefined };
  http2: { maxConcurrentStreams: number; resetBurst: number; resetRatePerS: number; idleTimeoutMs: number };
  limits: {
    maxHeaderBytes: number;
    maxHeaderCount: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    keepAliveTimeoutMs: number;
  };
  cache: { maxBytes: number; maxObjectBytes: number };
  debugHeaders: boolean;
  sites: SiteConfigResolved[];
  redirects: { host: string; to: string }[];
}

export interface SiteConfigResolved {
  name: string;
  hosts: string[];
  upstreams: { url: string; host: string; port: number }[];
  cache: {
    profile: 'off' | 'generic' | 'wordpress' | 'woocommerce' | 'magento';
    cacheStatic: boolean;
    gracePeriodS: number | undefined;
    nginxHelper: boolean;
    bypassCookies: string[];
    bypassPaths: string[];
    wooPages: string[] | undefined;
    defaultTtlS: number | undefined;
    graceS: number | undefined;
    keepS: number | undefined;
  };
  purgeAllow: string[];
  lbPolicy: 'round-robin' | 'least-connections';
  healthCheck: (Required<Omit<Static<typeof HealthCheckConfig>, 'host'>> & { host: string | undefined }) | undefined;
  passive: { failures: number; ejectMs: number };
  timeouts: { connectMs: number; firstByteMs: number };
  retries: number;
  maxBodyBytes: number;
  /** A validated certificate chain + key and the DNS names it covers; undefined = the platform CA covers the hosts. */
  tls: { certPem: string; keyPem: string; names: string[] } | undefined;
  httpsRedirect: boolean;
  /** The Strict-Transport-Security value, or undefined. */
  hsts: string | undefined;
  compression: { gzip: boolean; brotli: boolean; minBytes: number };
  static: StaticPolicy;
  /** undefined = no WAF (`mode: off` or no `waf`). */
  waf: WafSettings | undefined;
  environmentId: string | undefined;
  noindex: boolean;
  /** undefined = no password protection. */
  basicAuth: { realm: string; user: string; hash: string } | undefined;
}

export interface LoadConfigOptions {
  /** Relative `tls.caDir` and `sites[].tls.cert/key` paths resolve here (the config file's directory). */
  baseDir?: string;
}

const HOST_RE = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

function configError(field: string, reason: string): TriplaneError {
  return new TriplaneError('TRIPLANE_ERR_CONFIG', `${field}: ${reason}`, { field, reason });
}

/** `/sites/0/cache/profile` → `sites[0].cache.profile`. */
function fieldName(pointer: string): string {
  return (
    pointer
      .split('/')
      .filter(Boolean)
      .map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`))
      .join('') || '(root)'
  );
}

export function parseHostPort(s: string, field: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(s);
  const port = Number(m?.[2]);
  if (!m || port < 0 || port > 65535) throw configError(field, `expected host:port, got ${JSON.stringify(s)}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Validates a config object; throws TRIPLANE_ERR_CONFIG naming the first bad field. */
export function loadConfig(input: unknown, opts: LoadConfigOptions = {}): EdgeConfig {
  const errors = [...Value.Errors(EdgeConfigSchema, input)];
  const e = errors[0];
  if (e) throw configError(fieldName(e.path), e.message);
  const c = Value.Default(EdgeConfigSchema, structuredClone(input)) as EdgeConfigInput;
  const seenHosts = new Map<string, string>();
  const seenNames = new Set<string>();
  const httpsListen = c.listen.https === undefined ? undefined : parseHostPort(c.listen.https, 'listen.https');
  const sites = c.sites.map((s, i): SiteConfigResolved => {
    const at = `sites[${i}]`;
    if (seenNames.has(s.name)) throw configError(`${at}.name`, `duplicate site name ${s.name}`);
    seenNames.add(s.name);
    const hosts = s.hosts.map((h, j) => {
      const n = h === '*' ? '*' : h.toLowerCase().replace(/\.$/, '');
      if (n !== '*' && !HOST_RE.test(n)) {
        throw configError(`${at}.hosts[${j}]`, `not a hostname: ${JSON.stringify(h)}`);
      }
      const other = seenHosts.get(n);
      if (other) throw configError(`${at}.hosts[${j}]`, `host ${n} already belongs to site ${other}`);
      seenHosts.set(n, s.name);
      return n;
    });
    const upstreams = s.upstreams.map((u, j) => {
      let url: URL;
      try {
        url = new URL(u);
      } catch {
        throw configError(`${at}.upstreams[${j}]`, `not a URL: ${JSON.stringify(u)}`);
      }
      if (url.protocol !== 'http:' || url.pathname !== '/' || url.search || url.username) {
        throw configError(`${at}.upstreams[${j}]`, 'expected http://host:port');
      }
      return { url: u, host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 80) };
    });
    const purgeAllow = s.purge?.allow ?? [];
    purgeAllow.forEach((cidr, j) => {
      if (!parseCidr(cidr)) throw configError(`${at}.purge.allow[${j}]`, `not a CIDR: ${JSON.stringify(cidr)}`);
    });
    const hc = s.healthCheck;
    if (hc && (hc.expectStatusMin ?? 200) > (hc.expectStatusMax ?? 399)) {
      throw configError(`${at}.healthCheck.expectStatusMin`, 'greater than expectStatusMax');
    }
    return {
      name: s.name,
      hosts,
      upstreams,
      cache: {
        profile: s.cache?.profile ?? 'off',
        cacheStatic: s.cache?.cacheStatic ?? false,
        gracePeriodS: s.cache?.gracePeriodS,
        nginxHelper: s.cache?.nginxHelper ?? false,
        bypassCookies: s.cache?.bypassCookies ?? [],
        bypassPaths: s.cache?.bypassPaths ?? [],
        wooPages: s.cache?.wooPages,
        defaultTtlS: s.cache?.defaultTtlS,
        graceS: s.cache?.graceS,
        keepS: s.cache?.keepS,
      },
      purgeAllow,
      lbPolicy: s.lb?.policy ?? 'round-robin',
      healthCheck: hc
        ? {
            path: hc.path,
            host: hc.host,
            intervalMs: hc.intervalMs ?? 5000,
            timeoutMs: hc.timeoutMs ?? 2000,
            healthyThreshold: hc.healthyThreshold ?? 2,
            unhealthyThreshold: hc.unhealthyThreshold ?? 3,
            expectStatusMin: hc.expectStatusMin ?? 200,
            expectStatusMax: hc.expectStatusMax ?? 399,
          }
        : undefined,
      passive: { failures: s.passive?.failures ?? 3, ejectMs: s.passive?.ejectMs ?? 10_000 },
      timeouts: { connectMs: s.timeouts?.connectMs ?? 5000, firstByteMs: s.timeouts?.firstByteMs ?? 60_000 },
      retries: s.retries ?? 1,
      maxBodyBytes: s.maxBodyBytes ?? 64 * 1024 * 1024,
      tls: s.tls ? siteTls(s.tls, `${at}.tls`, opts.baseDir) : undefined,
      httpsRedirect: s.httpsRedirect ?? httpsListen !== undefined,
      hsts: s.hsts
        ? [`max-age=${s.hsts.maxAgeS}`, s.hsts.includeSubDomains ? 'includeSubDomains' : '', s.hsts.preload ? 'preload' : '']
            .filter(Boolean)
            .join('; ')
        : undefined,
      compression: {
        gzip: s.compression?.gzip ?? true,
        brotli: s.compression?.brotli ?? true,
        minBytes: s.compression?.minBytes ?? 1024,
      },
      static: {
        maxAgeS: s.static?.maxAgeS ?? DEFAULT_STATIC_MAX_AGE_S,
        immutable: s.static?.immutable ?? false,
        extensions: s.static?.extensions?.map((x) => x.replace(/^\./, '').toLowerCase()) ?? DEFAULT_STATIC_EXTENSIONS,
      },
      waf: resolveWaf(s.waf, s.cache?.profile ?? 'off', opts.baseDir),
      environmentId: s.environmentId,
      noindex: s.noindex ?? false,
      basicAuth: s.basicAuth ? { realm: s.basicAuth.realm ?? s.name, user: s.basicAuth.user, hash: s.basicAuth.hash } : undefined,
    };
  });
  const known = new Set(['off', ...profileNames()]);
  sites.forEach((s, i) => {
    if (!known.has(s.cache.profile)) throw configError(`sites[${i}].cache.profile`, `unknown profile ${s.cache.profile}`);
  });
  const l = c.limits ?? {};
  // node:http refuses a headers timeout longer than the request timeout (ERR_OUT_OF_RANGE at start)
  if ((l.headersTimeoutMs ?? 10_000) > (l.requestTimeoutMs ?? 60_000)) {
    throw configError('limits.headersTimeoutMs', 'must not exceed limits.requestTimeoutMs');
  }
  return {
    listen: {
      ...parseHostPort(c.listen.http, 'listen.http'),
      metrics: c.listen.metrics === undefined ? undefined : parseHostPort(c.listen.metrics, 'listen.metrics'),
      https: httpsListen,
    },
    tls: {
      caDir:
        c.tls?.caDir !== undefined
          ? resolvePath(c.tls.caDir, opts.baseDir)
          : opts.baseDir !== undefined
            ? resolve(opts.baseDir, 'tls')
            : undefined,
    },
    http2: {
      maxConcurrentStreams: c.http2?.maxConcurrentStreams ?? 128,
      resetBurst: c.http2?.resetBurst ?? 200,
      resetRatePerS: c.http2?.resetRatePerS ?? 33,
      idleTimeoutMs: c.http2?.idleTimeoutMs ?? 60_000,
    },
    limits: {
      maxHeaderBytes: l.maxHeaderBytes ?? 16 * 1024,
      maxHeaderCount: l.maxHeaderCount ?? 100,
      headersTimeoutMs: l.headersTimeoutMs ?? 10_000,
      requestTimeoutMs: l.requestTimeoutMs ?? 60_000,
      keepAliveTimeoutMs: l.keepAliveTimeoutMs ?? 5_000,
    },
    cache: { maxBytes: c.cache?.maxBytes ?? 256 * 1024 * 1024, maxObjectBytes: c.cache?.maxObjectBytes ?? 16 * 1024 * 1024 },
    debugHeaders: c.debugHeaders ?? false,
    sites,
    redirects: (c.redirects ?? []).map((r, i) => {
      const host = r.host.toLowerCase().replace(/\.$/, '');
      if (seenHosts.has(host))
        throw configError(`redirects[${i}].host`, `host ${host} already belongs to site ${seenHosts.get(host)}`);
      if (!HOST_RE.test(host)) throw configError(`redirects[${i}].host`, `not a hostname: ${JSON.stringify(r.host)}`);
      if (!HOST_RE.test(r.to.toLowerCase())) throw configError(`redirects[${i}].to`, `not a hostname: ${JSON.stringify(r.to)}`);
      return { host, to: r.to.toLowerCase() };
    }),
  };
}

function resolvePath(p: string, baseDir: string | undefined): string {
  return isAbsolute(p) || baseDir === undefined ? p : resolve(baseDir, p);
}

function readPem(path: string, field: string, baseDir: string | undefined): string {
  const file = resolvePath(path, baseDir);
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw configError(field, `cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Files or inline PEM, exactly one pair; the pair is checked here so a bad certificate never reaches a handshake. */
function siteTls(
  t: Static<typeof SiteTlsConfig>,
  at: string,
  baseDir: string | undefined,
): { certPem: string; keyPem: string; names: string[] } {
  const files = t.cert !== undefined || t.key !== undefined;
  const inline = t.certPem !== undefined || t.keyPem !== undefined;
  if (files && inline) throw configError(at, 'give cert/key files or certPem/keyPem, not both');
  if (t.cert === undefined && t.certPem === undefined) throw configError(`${at}.${files ? 'cert' : 'certPem'}`, 'missing');
  if (t.key === undefined && t.keyPem === undefined) throw configError(`${at}.${files ? 'key' : 'keyPem'}`, 'missing');
  const certPem = t.cert !== undefined ? readPem(t.cert, `${at}.cert`, baseDir) : (t.certPem as string);
  const keyPem = t.key !== undefined ? readPem(t.key, `${at}.key`, baseDir) : (t.keyPem as string);
  const checked = checkPemPair(certPem, keyPem, `${at}.${files ? 'cert' : 'certPem'}`, `${at}.${files ? 'key' : 'keyPem'}`);
  return { certPem, keyPem, names: checked.names };
}
