import { createReadStream, realpathSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { TriplaneError } from '@triplane/kernel';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * Serves the dashboard's production build (apps/dashboard/dist, made by `vite build`) at `/`.
 *
 * A small handler rather than @fastify/static (not a dependency of the repo): the build is a
 * handful of files, and the rules are few enough to read in one place:
 * - `/assets/*` are content-hashed by Vite: cached for a year, `immutable`;
 * - any other existing file (favicon, …) is served with `no-cache` (revalidated every time);
 * - a GET that is not under `/api/` and doesn't look like a file (no extension) is a
 *   client-side route: it gets `index.html` (no-cache), so a reload on `/sites/…` works;
 * - a path that resolves outside the build directory (`..`, encoded or not, symlinks) or
 *   names a dotfile is refused with the API's 404 — never the index, never the file;
 * - `index.html` carries a Content-Security-Policy without 'unsafe-inline' for scripts: the
 *   build has no inline script, and the app talks only to its own origin.
 *
 * The dashboard's routes are anonymous (see app.ts): the app itself is public, the API it calls
 * is what checks the session — a stale session cookie must not turn the sign-in page into a 401.
 */

/** The policy of the served app: its own scripts, styles and API; no framing, no plugins. */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';

/** True for requests the dashboard answers (GET/HEAD outside the API): app.ts skips authentication for them. */
export function isDashboardRequest(method: string, path: string): boolean {
  return (method === 'GET' || method === 'HEAD') && path !== '/api' && !path.startsWith('/api/');
}

function notFound(path: string): TriplaneError {
  return new TriplaneError('TRIPLANE_ERR_NOT_FOUND', `no route for GET ${path}`);
}

function securityHeaders(reply: FastifyReply): void {
  reply.header('content-security-policy', DASHBOARD_CSP);
  reply.header('x-frame-options', 'DENY');
  reply.header('referrer-policy', 'same-origin');
  reply.header('cross-origin-opener-policy', 'same-origin');
}

/**
 * Register the catch-all GET route serving `dir` (must contain index.html). Specific routes
 * (the API, /healthz, /metrics) win over the wildcard in Fastify's router.
 */
export function registerDashboard(app: FastifyInstance, dir: string): void {
  // Resolved once: every file must lie under this real path.
  const root = realpathSync(resolve(dir));
  const indexPath = join(root, 'index.html');

  app.get('/*', { schema: { hide: true } }, async (req, reply) => {
    const path = req.url.split('?')[0] ?? '/';
    if (path === '/api' || path.startsWith('/api/')) throw notFound(path);
    let rel: string;
    try {
      rel = decodeURIComponent(path);
    } catch {
      throw new TriplaneError('TRIPLANE_ERR_BAD_REQUEST', 'malformed URL');
    }
    if (rel.includes('\0') || rel.includes('\\')) throw notFound(path);
    const segments = rel.split('/').filter((s) => s !== '');
    // `..` anywhere, or a dotfile: refused outright, whatever it would resolve to.
    if (segments.some((s) => s.startsWith('.'))) throw notFound(path);
    const candidate = resolve(root, ...segments);
    if (candidate !== root && !candidate.startsWith(root + sep)) throw notFound(path);

    if (segments.length > 0) {
      const file = await realpath(candidate).catch(() => undefined);
      const st = file ? await stat(file).catch(() => undefined) : undefined;
      if (file && st?.isFile()) {
        if (!file.startsWith(root + sep)) throw notFound(path); // a symlink pointing out
        const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
        reply.header('cache-control', segments[0] === 'assets' ? IMMUTABLE : 'no-cache');
        if (file === indexPath) securityHeaders(reply);
        reply.header('content-length', String(st.size));
        return reply.type(type).send(createReadStream(file));
      }
      // A missing file (`/assets/old-hash.js`, `/favicon.png`) is a 404, not the index: a
      // script tag must never receive HTML.
      if (segments[0] === 'assets' || extname(rel) !== '') throw notFound(path);
    }

    const html = await readFile(indexPath).catch(() => undefined);
    if (!html) {
      throw new TriplaneError('TRIPLANE_ERR_UNAVAILABLE', 'the dashboard build is missing (run the dashboard build)');
    }
    securityHeaders(reply);
    reply.header('cache-control', 'no-cache');
    return reply.type(CONTENT_TYPES['.html'] as string).send(html);
  });
}
