import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Id, Timestamp } from '../primitives.ts';

/**
 * Environment logs: the edge's access log lines and its error lines (upstream errors and timeouts,
 * WAF blocks), shipped by every edge in batches and kept by the control plane for 24 h (docs/logs.md).
 *
 *   POST /api/v1/edge/logs                          (edge servers) EdgeLogBatch → 202 LogIngestResult
 *   POST /api/v1/agents/{id}/logs                   (app servers) AgentLogBatch → 202 LogIngestResult:
 *                                                   the site pods' nginx and php-fpm error logs
 *   GET  /api/v1/environments/{id}/logs?kind=&source=&q=&status=&since=&until=&limit=&cursor=
 *                                                   (viewer and up on the site) → LogList, newest first
 *   GET  /api/v1/environments/{id}/logs/stream?kind=&source=&q=&status=
 *                                                   (viewer and up) text/event-stream: `event: line`,
 *                                                   `id:` = the line's id (Last-Event-ID resumes)
 *
 * Lines never carry cookies, Authorization or any other request header but the User-Agent; query
 * strings of login endpoints are cut and credential-like query parameters are redacted by the edge
 * (packages/edge/src/logs-push.ts). Long fields are truncated to the limits below.
 */
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** Lines per POST (a batch of this many worst-case lines stays under the API's 1 MiB body limit). */
export const LOGS_MAX_BATCH = 500;
/** Field limits (characters); the edge truncates to them, the API refuses longer ones. */
export const LOG_PATH_MAX = 512;
export const LOG_UA_MAX = 256;
export const LOG_MESSAGE_MAX = 512;

export const LogKind = Type.Union([Type.Literal('access'), Type.Literal('error')]);
export type LogKind = Static<typeof LogKind>;

/**
 * Who wrote a line: `edge` (access and error lines of the edge), `nginx` (the error log of the site
 * pod's nginx), `php` (php-fpm's log: PHP errors, warnings, slow-log entries, pool warnings).
 */
export const LogSource = Type.Union([Type.Literal('edge'), Type.Literal('nginx'), Type.Literal('php')]);
export type LogSource = Static<typeof LogSource>;
/** A site pod's error-log lines may be longer than the edge's (a PHP fatal error with its stack trace). */
export const LOG_SITE_MESSAGE_MAX = 2048;

/** The fields of a line, as the edge sends them and the API answers them (all but kind optional). */
const lineFields = {
  kind: LogKind,
  /** Request id (`X-Request-Id`, the WAF's unique_id). */
  requestId: Type.Optional(Type.String({ maxLength: 64 })),
  method: Type.Optional(Type.String({ maxLength: 32 })),
  host: Type.Optional(Type.String({ maxLength: 253 })),
  /** Path and query, truncated; login endpoints' query strings cut, secrets redacted. */
  path: Type.Optional(Type.String({ maxLength: LOG_PATH_MAX })),
  /** Status the client got (0: the connection ended before an answer). */
  status: Type.Optional(Type.Integer({ minimum: 0, maximum: 999 })),
  /** Response bytes sent. */
  bytes: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Total time, ms. */
  ms: Type.Optional(Type.Number({ minimum: 0 })),
  /** Cache status: HIT, MISS, STALE, PASS, SYNTH, PURGE… */
  cache: Type.Optional(Type.String({ maxLength: 16 })),
  /** WAF action on this request: blocked or detected. */
  waf: Type.Optional(Type.String({ maxLength: 16 })),
  ip: Type.Optional(Type.String({ maxLength: 64 })),
  ua: Type.Optional(Type.String({ maxLength: LOG_UA_MAX })),
  /** The upstream member that answered (or failed). */
  upstream: Type.Optional(Type.String({ maxLength: 256 })),
  /** Time to the upstream's response headers, ms; absent when no upstream answered. */
  upstreamMs: Type.Optional(Type.Number({ minimum: 0 })),
  /** Error lines: what went wrong (`upstream timeout: …`, `WAF blocked: 942100 …`). */
  message: Type.Optional(Type.String({ maxLength: LOG_MESSAGE_MAX })),
};

/** One line as an edge posts it. `at`: the edge's clock, epoch ms (clamped by the control plane). */
export const EdgeLogLine = Type.Object(
  { environmentId: Type.String({ minLength: 1, maxLength: 64 }), at: Type.Integer({ minimum: 0 }), ...lineFields },
  { additionalProperties: false },
);
export type EdgeLogLine = Static<typeof EdgeLogLine>;

export const EdgeLogBatch = Type.Object(
  {
    lines: Type.Array(EdgeLogLine, { maxItems: LOGS_MAX_BATCH }),
    /** Lines this edge lost since its last accepted batch (full queue, control plane down). */
    dropped: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type EdgeLogBatch = Static<typeof EdgeLogBatch>;

export const LogIngestResult = Type.Object(
  {
    accepted: Type.Integer({ minimum: 0 }),
    ignored: Type.Integer({ minimum: 0, description: 'lines of environments that do not exist (any more)' }),
  },
  { additionalProperties: false },
);
export type LogIngestResult = Static<typeof LogIngestResult>;

/**
 * One error-log line of a site pod as an agent posts it: `at` is the container log's timestamp
 * (epoch ms, clamped by the control plane); method/host/path/ip are parsed from nginx's request
 * context (`request: "GET /x HTTP/1.1", host: "…"`) when the line has one. Always kind `error`.
 */
export const AgentLogLine = Type.Object(
  {
    environmentId: Type.String({ minLength: 1, maxLength: 64 }),
    at: Type.Integer({ minimum: 0 }),
    source: Type.Union([Type.Literal('nginx'), Type.Literal('php')]),
    message: Type.String({ minLength: 1, maxLength: LOG_SITE_MESSAGE_MAX }),
    method: lineFields.method,
    host: lineFields.host,
    path: lineFields.path,
    ip: lineFields.ip,
  },
  { additionalProperties: false },
);
export type AgentLogLine = Static<typeof AgentLogLine>;

/** Lines per agent POST: longer messages than the edge's, so fewer, to stay far under the 1 MiB body limit. */
export const AGENT_LOGS_MAX_BATCH = 100;

export const AgentLogBatch = Type.Object(
  {
    lines: Type.Array(AgentLogLine, { maxItems: AGENT_LOGS_MAX_BATCH }),
    /** Lines this agent lost since its last accepted batch (full queue, control plane down). */
    dropped: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type AgentLogBatch = Static<typeof AgentLogBatch>;

/** A stored line's id: time-ordered (`log_` + 10 chars of ms + 8), the list cursor and the SSE event id. */
export const LogId = Type.String({ pattern: '^log_[0-9a-z]{18}$', maxLength: 22 });

/** One stored line as the API shows it. */
export const LogLine = Type.Object(
  {
    id: LogId,
    environmentId: Id,
    at: Timestamp,
    source: LogSource,
    ...lineFields,
    message: Type.Optional(Type.String({ maxLength: LOG_SITE_MESSAGE_MAX })),
  },
  { additionalProperties: false },
);
export type LogLine = Static<typeof LogLine>;

export const LogList = Type.Object(
  { items: Type.Array(LogLine), nextCursor: Nullable(Type.String()) },
  { additionalProperties: false },
);
export type LogList = Static<typeof LogList>;

const filterFields = {
  kind: Type.Optional(LogKind),
  source: Type.Optional(LogSource),
  /** Case-insensitive substring of the path, the user agent or the message. */
  q: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  /** A status class (`5xx`) or one status (`404`). */
  status: Type.Optional(Type.String({ pattern: '^([1-5]xx|[0-9]{3})$' })),
};

/** `since`/`until`: an ISO timestamp, epoch ms, or a duration back from now (`90s`, `15m`, `1h`, `1d`). */
export const LogTime = Type.String({ minLength: 1, maxLength: 40 });

export const LogQuery = Type.Object(
  {
    ...filterFields,
    since: Type.Optional(LogTime),
    until: Type.Optional(LogTime),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    cursor: Type.Optional(LogId),
  },
  { additionalProperties: false },
);
export type LogQuery = Static<typeof LogQuery>;

export const LogStreamQuery = Type.Object(
  {
    ...filterFields,
    /** Resume after this line (as Last-Event-ID does); default: only lines that arrive from now on. */
    after: Type.Optional(LogId),
  },
  { additionalProperties: false },
);
export type LogStreamQuery = Static<typeof LogStreamQuery>;

/** Endpoints whose query string is dropped whole: credentials or one-time tokens travel there. */
const LOGIN_PATH = /(?:wp-login\.php|xmlrpc\.php|login|signin|logout|password|reset|token|oauth|auth)[^/]*\/?$/i;
/** Query parameters whose value is replaced by `[redacted]` everywhere. */
const SECRET_PARAM = /pass|pwd|token|secret|key|auth|session|sig|nonce|otp|code|ticket|credential/i;

/**
 * A request target as shipped (by the edge's access log and the agent's site logs): login endpoints lose their query string (`/wp-login.php?[redacted]`),
 * credential-like parameters elsewhere keep their name but not their value, and the result is cut to
 * LOG_PATH_MAX. Headers (Cookie, Authorization…) are never shipped at all; bodies neither.
 */
export function sanitizePath(url: string): string {
  const cut = (x: string, max: number) => (x.length > max ? x.slice(0, max) : x);
  const q = url.indexOf('?');
  if (q === -1) return cut(url, LOG_PATH_MAX);
  const path = url.slice(0, q);
  if (LOGIN_PATH.test(path)) return cut(`${path}?[redacted]`, LOG_PATH_MAX);
  const params = url
    .slice(q + 1, q + 1 + 4 * LOG_PATH_MAX)
    .split('&')
    .map((p) => {
      const eq = p.indexOf('=');
      return eq !== -1 && SECRET_PARAM.test(p.slice(0, eq)) ? `${p.slice(0, eq)}=[redacted]` : p;
    });
  return cut(`${path}?${params.join('&')}`, LOG_PATH_MAX);
}
