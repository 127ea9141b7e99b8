import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { PurgeKind } from './api/purge.ts';
import { Hostname, Plan, SiteKind } from './primitives.ts';

/**
 * The EdgeSnapshot: the whole configuration an edge runs from, compiled by the control plane
 * and served at `GET /api/v1/edge/snapshot` (edge-role server credential or superuser) with a
 * strong `ETag`, `304` on `If-None-Match` and long-poll (`?wait=<seconds>`). The edge keeps the
 * last good snapshot on disk and never calls the control plane on the request path.
 *
 * Shape (every list sorted, so equal content gives equal bytes):
 *   {
 *     "apiVersion": "triplane/v1", "kind": "EdgeSnapshot", "revision": 42,
 *     "generatedAt": "2025-…Z",           // informational; NOT part of the ETag
 *     "sites":     [{ "id", "orgId", "name", "kind", "plan", "environmentIds": [...] }],
 *     "routes":    [{ "hostname": "shop.example.com", "environmentId": "env_…", "siteId": "site_…",
 *                     "primary": true, "redirectTo": null },
 *                   { "hostname": "www.shop.example.com", …, "primary": false,
 *                     "redirectTo": "shop.example.com" }],       // 301 to the primary
 *     "upstreams": [{ "environmentId": "env_…", "state": "running", "policy": "round-robin",
 *                     "members": [{ "serverId": "srv_…", "address": "10.0.0.5", "port": 20000 }],
 *                     "healthCheck": { "path": "/", "host": "shop.example.com", "intervalMs": 5000, … },
 *                     "connectTimeoutMs": 5000, "readTimeoutMs": 60000 }],
 *     "certificates": [],                 // filled by the certificates issue
 *     "policies":  [{ "environmentId": "env_…", "cache": {…}, "waf": {…}, "rate": {…},
 *                     "noindex": false, "basicAuth": null }],     // see EnvironmentPolicies
 *     "purges":    [{ "seq": 7, "environmentId": "env_…", "kind": "url", "values": ["/p?x=1"],
 *                     "createdAt": "2025-…Z" }],          // ascending seq; see SnapshotPurge
 *     "purgeSeq":  7                      // newest purge's seq, 0 when none
 *   }
 *
 * Routing: Host (lower-cased, port stripped) → route. A route with `redirectTo` answers 301 to
 * the same path on that host. A `stopped` upstream (or one with no members) answers 503.
 * Policies default from the site kind: WordPress/WooCommerce/Magento get cache profiles that
 * bypass logged-in/cart sessions and admin paths, the matching OWASP CRS exclusion profile, and a
 * stricter rate on login endpoints.
 */
export const EDGE_SNAPSHOT_API_VERSION = 'triplane/v1';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const SnapshotSite = Type.Object(
  {
    id: Type.String(),
    orgId: Type.String(),
    name: Type.String(),
    kind: SiteKind,
    plan: Plan,
    environmentIds: Type.Array(Type.String()),
  },
  { additionalProperties: false },
);
export type SnapshotSite = Static<typeof SnapshotSite>;

export const Route = Type.Object(
  {
    hostname: Hostname,
    environmentId: Type.String(),
    siteId: Type.String(),
    primary: Type.Boolean(),
    redirectTo: Nullable(Hostname),
  },
  { additionalProperties: false },
);
export type Route = Static<typeof Route>;

export const LbPolicyName = Type.Union([Type.Literal('round-robin'), Type.Literal('least-connections'), Type.Literal('ip-hash')]);
export type LbPolicyName = Static<typeof LbPolicyName>;

export const HealthCheck = Type.Object(
  {
    path: Type.String(),
    host: Nullable(Type.String({ description: 'Host header to send; null: the member address' })),
    intervalMs: Type.Integer({ minimum: 100 }),
    timeoutMs: Type.Integer({ minimum: 10 }),
    healthyThreshold: Type.Integer({ minimum: 1 }),
    unhealthyThreshold: Type.Integer({ minimum: 1 }),
    expectStatusMin: Type.Integer({ minimum: 100, maximum: 599 }),
    expectStatusMax: Type.Integer({ minimum: 100, maximum: 599 }),
  },
  { additionalProperties: false },
);
export type HealthCheck = Static<typeof HealthCheck>;

export const UpstreamMember = Type.Object(
  { serverId: Type.String(), address: Type.String(), port: Type.Integer({ minimum: 1, maximum: 65535 }) },
  { additionalProperties: false },
);
export type UpstreamMember = Static<typeof UpstreamMember>;

export const Upstream = Type.Object(
  {
    environmentId: Type.String(),
    state: Type.Union([Type.Literal('running'), Type.Literal('stopped')]),
    policy: LbPolicyName,
    members: Type.Array(UpstreamMember),
    healthCheck: HealthCheck,
    connectTimeoutMs: Type.Integer({ minimum: 1 }),
    readTimeoutMs: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export type Upstream = Static<typeof Upstream>;

export const CacheProfile = Type.Union([
  Type.Literal('wordpress'),
  Type.Literal('woocommerce'),
  Type.Literal('magento'),
  Type.Literal('generic'),
]);
export type CacheProfile = Static<typeof CacheProfile>;

export const CachePolicy = Type.Object(
  {
    enabled: Type.Boolean(),
    profile: CacheProfile,
    /** TTL of cacheable HTML when the origin says nothing, seconds. */
    defaultTtlS: Type.Integer({ minimum: 0 }),
    /** TTL of static files (by extension), seconds. */
    staticTtlS: Type.Integer({ minimum: 0 }),
    /** Serve stale while revalidating / when the origin fails, seconds. */
    graceS: Type.Integer({ minimum: 0 }),
    /** Request path prefixes never cached. */
    bypassPaths: Type.Array(Type.String()),
    /** Cookie name prefixes whose presence bypasses the cache (logged-in users, carts). */
    bypassCookies: Type.Array(Type.String()),
    /** Query parameters removed from the cache key (tracking). */
    ignoreQueryParams: Type.Array(Type.String()),
    /** Origin Cache-Control / Expires win over defaultTtlS. */
    honorOriginCacheControl: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type CachePolicy = Static<typeof CachePolicy>;

export const WafPolicy = Type.Object(
  {
    enabled: Type.Boolean(),
    mode: Type.Union([Type.Literal('block'), Type.Literal('detect')]),
    paranoiaLevel: Type.Integer({ minimum: 1, maximum: 4 }),
    inboundAnomalyThreshold: Type.Integer({ minimum: 1 }),
    outboundAnomalyThreshold: Type.Integer({ minimum: 1 }),
    /** CRS application exclusion profiles, e.g. `wordpress`. */
    exclusionProfiles: Type.Array(Type.String()),
    maxRequestBodyBytes: Type.Integer({ minimum: 0 }),
    /** Per-environment rule exclusions: a rule id removes the rule, `{ id, target }` one target of it (e.g. `ARGS:content`). */
    exclusions: Type.Optional(
      Type.Array(
        Type.Union([
          Type.Integer({ minimum: 1, maximum: 99_999_999 }),
          Type.Object(
            {
              id: Type.Integer({ minimum: 1, maximum: 99_999_999 }),
              target: Type.String({ pattern: '^[A-Z_]+(:[^\\s"\'\\\\|,]+)?$', maxLength: 256 }),
            },
            { additionalProperties: false },
          ),
        ]),
      ),
    ),
  },
  { additionalProperties: false },
);
export type WafPolicy = Static<typeof WafPolicy>;

export const RateRule = Type.Object(
  {
    pathPrefix: Type.String(),
    methods: Type.Array(Type.String(), { description: 'empty: every method' }),
    requestsPerMinute: Type.Integer({ minimum: 1 }),
    burst: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type RateRule = Static<typeof RateRule>;

export const RatePolicy = Type.Object(
  {
    /** Per client IP, all requests to the environment. */
    requestsPerSecond: Type.Integer({ minimum: 1 }),
    burst: Type.Integer({ minimum: 0 }),
    /** Stricter limits per client IP on sensitive paths (logins, XML-RPC, checkout). */
    rules: Type.Array(RateRule),
  },
  { additionalProperties: false },
);
export type RatePolicy = Static<typeof RatePolicy>;

/**
 * The format of a Basic auth password hash: `scrypt:<N>:<r>:<p>:<salt, base64>:<key, base64>`
 * (scrypt of the NFKC-normalised password; the key length is the decoded key's). Bounds keep one
 * verification at the edge affordable: N a power of two from 2^10 to 2^17, r 1-16, p 1-4.
 * Example: `scrypt:32768:8:1:3q2+7w==…:mK2k…=`.
 */
export const BASIC_AUTH_HASH_PATTERN =
  '^scrypt:(1024|2048|4096|8192|16384|32768|65536|131072):([1-9]|1[0-6]):[1-4]:[A-Za-z0-9+/]{16,88}={0,2}:[A-Za-z0-9+/]{22,88}={0,2}$';

/**
 * HTTP Basic auth in front of an environment (PUT /environments/{id}/protection): the edge answers
 * 401 with `WWW-Authenticate: Basic realm="<realm>"` unless the request carries `user` and a password
 * whose scrypt hash is `hash`. The snapshot carries only the hash, never the password.
 */
export const BasicAuthPolicy = Type.Object(
  {
    realm: Type.String({ minLength: 1, maxLength: 128, pattern: '^[ !#-\\[\\]-~]+$' }),
    user: Type.String({ minLength: 1, maxLength: 64, pattern: '^[!-9;-~]+$' }),
    hash: Type.String({ pattern: BASIC_AUTH_HASH_PATTERN }),
  },
  { additionalProperties: false },
);
export type BasicAuthPolicy = Static<typeof BasicAuthPolicy>;

export const EnvironmentPolicies = Type.Object(
  {
    environmentId: Type.String(),
    cache: CachePolicy,
    waf: WafPolicy,
    rate: RatePolicy,
    /**
     * A staging environment (not production): every response for its hosts carries
     * `X-Robots-Tag: noindex, nofollow` and the edge answers `/robots.txt` with `Disallow: /`.
     * Optional on the wire (older control planes omit it = false).
     */
    noindex: Type.Optional(Type.Boolean()),
    /** Password protection; null or absent = none. */
    basicAuth: Type.Optional(Nullable(BasicAuthPolicy)),
  },
  { additionalProperties: false },
);
export type EnvironmentPolicies = Static<typeof EnvironmentPolicies>;

/** Placeholder until the certificates issue lands: PEM chain and key reference per hostname. */
export const SnapshotCertificate = Type.Object(
  {
    id: Type.String(),
    hostnames: Type.Array(Hostname),
    certificatePem: Type.String(),
    keyRef: Type.String(),
    notAfter: Type.String(),
  },
  { additionalProperties: false },
);
export type SnapshotCertificate = Static<typeof SnapshotCertificate>;

/**
 * A cache purge (POST /environments/{id}/purge) on its way to every edge. `seq` is contiguous
 * across the platform (1, 2, 3, …), so an edge that applied up to N applies every listed purge
 * with seq > N, and knows it missed some when the oldest listed is above N + 1 (then it drops
 * the whole cache). The snapshot lists a bounded window: at most the newest 1,000 purges of the
 * last 24 h, and at most 10,000 values across them. Edges ignore purges of environments they
 * don't serve. `values`: urls (`/path?q` or `https://host/path?q`) or tags; empty for `all`.
 */
export const SnapshotPurge = Type.Object(
  {
    seq: Type.Integer({ minimum: 1 }),
    environmentId: Type.String(),
    kind: PurgeKind,
    values: Type.Array(Type.String()),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type SnapshotPurge = Static<typeof SnapshotPurge>;

export const EdgeSnapshot = Type.Object(
  {
    apiVersion: Type.Literal(EDGE_SNAPSHOT_API_VERSION),
    kind: Type.Literal('EdgeSnapshot'),
    revision: Type.Integer({ minimum: 1 }),
    generatedAt: Type.String({ format: 'date-time' }),
    sites: Type.Array(SnapshotSite),
    routes: Type.Array(Route),
    upstreams: Type.Array(Upstream),
    certificates: Type.Array(SnapshotCertificate),
    policies: Type.Array(EnvironmentPolicies),
    /** Optional on the wire (older control planes omit it); the control plane always sends both. */
    purges: Type.Optional(Type.Array(SnapshotPurge)),
    purgeSeq: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type EdgeSnapshot = Static<typeof EdgeSnapshot>;
