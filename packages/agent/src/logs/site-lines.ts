import { type AgentLogLine, LOG_PATH_MAX, LOG_SITE_MESSAGE_MAX, sanitizePath } from '@triplane/spec';

/** A site error line before it is tied to an environment. */
export type SiteLine = Omit<AgentLogLine, 'environmentId'>;

/** Which containers of a site pod are followed, and the source their lines get. */
export const FOLLOWED_CONTAINERS: Readonly<Record<string, SiteLine['source']>> = { web: 'nginx', php: 'php' };

const cut = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** The lines PHP adds under a fatal error's first line. */
const CONTINUATION = /^(?:Stack trace:|#\d+ |\s+thrown in |\s{2,}\S)/;

// `2026/11/25 06:54:24 [error] 7#7: *3 <message>`: time, level, pid#tid, optional connection number
const NGINX_START = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[/;
const NGINX = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: (?:\*\d+ )?([\s\S]*)$/;
// the request context nginx appends to an error line, in its fixed order
const NGINX_CONTEXT =
  /, client: ([^,\s]+), server: [^,]*(?:, request: "(\S+) (\S+)(?: [^"]*)?")?(?:, subrequest: "[^"]*")?(?:, upstream: "[^"]*")?(?:, host: "([^"]*)")?(?:, referrer: "[^"]*")?$/;

/**
 * Whether a log line continues the one before it rather than starting a new one. nginx writes what
 * FastCGI sent on stderr as it is, so a PHP fatal error's stack trace splits one nginx line into
 * several (`Stack trace:`, `#0 {main}`, `  thrown in … while reading response header…, client: …`);
 * PHP prints a stack trace as lines of its own under the error.
 */
export function continuesPrevious(source: SiteLine['source'], text: string): boolean {
  return source === 'nginx' ? !NGINX_START.test(text) : CONTINUATION.test(text);
}

/**
 * One line of the site nginx's error log (`error_log stderr warn`, images/web) → a site line: the
 * message keeps the level and nginx's own text (with its request context, as nginx prints it);
 * method, path, host and client IP are lifted from that context so they can be searched. A line in
 * another shape (nginx failing to start, the entrypoint) is shipped as it is.
 */
export function nginxLine(text: string, at: number): SiteLine | undefined {
  const t = text.trimEnd();
  if (!t) return undefined;
  const m = NGINX.exec(t);
  if (!m) return { at, source: 'nginx', message: cut(t, LOG_SITE_MESSAGE_MAX) };
  // The request line and referrer nginx prints carry query strings: the edge's redaction rule
  // (spec sanitizePath) applies here too, so a password reset token is not kept for 24 h.
  const body = (m[2] ?? '')
    .replace(/(, request: "\S+ )(\S+)/, (_all, head: string, target: string) => `${head}${sanitizePath(target)}`)
    .replace(/(, referrer: ")([^"]*)/, (_all, head: string, ref: string) => `${head}${sanitizePath(ref)}`);
  const line: SiteLine = { at, source: 'nginx', message: cut(`[${m[1]}] ${body}`, LOG_SITE_MESSAGE_MAX) };
  const c = NGINX_CONTEXT.exec(body);
  if (c) {
    line.ip = cut(c[1] as string, 64);
    if (c[2] && c[3]) {
      line.method = cut(c[2], 32);
      line.path = cut(sanitizePath(c[3]), LOG_PATH_MAX);
    }
    if (c[4]) line.host = cut(c[4], 253);
  }
  return line;
}

// php-fpm's prefix: `[25-Nov-2026 06:54:24] WARNING: ` from the master, a bare `NOTICE: ` from a worker
// (`NOTICE: PHP message: PHP Warning:  …`); and the worker decoration (decorate_workers_output = yes)
const FPM_PREFIX = /^(?:\[\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d(?:\.\d+)?\] )?(DEBUG|NOTICE|WARNING|ERROR|ALERT): ([\s\S]*)$/;
const FPM_CHILD = /^\[pool [^\]]+\] child \d+ said into std(?:err|out): "([\s\S]*)"$/;

/**
 * One line of php-fpm's output (the php container's stderr: the master's log and, through
 * `catch_workers_output`, what PHP logs — `error_log` unset, so PHP errors go to the worker's stderr)
 * → a site line. The master's NOTICE lines (started, ready, reloading) are left out; everything else
 * is kept: PHP errors, warnings and deprecations, and the pool's warnings (`server reached
 * pm.max_children`, `child … exited on signal 11`, `executing too slow` when a slow log is set).
 * `text` may hold several lines (an error and its stack trace, joined by the caller).
 */
export function phpLine(text: string, at: number): SiteLine | undefined {
  let t = text.trimEnd();
  if (!t.trim()) return undefined;
  let level: string | undefined;
  const p = FPM_PREFIX.exec(t);
  if (p) {
    level = (p[1] as string).toUpperCase();
    t = p[2] as string;
  }
  const child = FPM_CHILD.exec(t);
  if (child) t = child[1] as string;
  if (t.startsWith('PHP message: ')) t = t.slice('PHP message: '.length);
  if (level === 'NOTICE' && !t.startsWith('PHP ')) return undefined;
  return { at, source: 'php', message: cut(t, LOG_SITE_MESSAGE_MAX) };
}
