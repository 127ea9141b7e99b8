import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fastifyCookie from '@fastify/cookie';
import fastifySwagger from '@fastify/swagger';
import { silentLogger, systemClock, TriplaneError } from '@triplane/kernel';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { authenticate } from './auth/authenticate.ts';
import type { AppContext, AppOptions } from './context.ts';
import { isDashboardRequest, registerDashboard } from './dashboard-static.ts';
import { fromFastifyError, installErrorHandlers, sendError } from './errors.ts';
import v1Routes from './routes/index.ts';
import { validatorCompiler } from './validation.ts';

const UNAUTHENTICATED_PATHS = new Set(['/healthz', '/readyz', '/metrics', '/api/openapi.json']);

/**
 * Build the control-plane API. Pure wiring: the store and clock come in, nothing listens
 * until the caller does `app.listen`. Tests use `app.inject`.
 */
export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  const ctx: AppContext = {
    store: opts.store,
    clock: opts.clock ?? systemClock,
    metrics,
    options: {
      bodyLimit: opts.bodyLimit ?? 1024 * 1024,
      secureCookies: opts.secureCookies ?? false,
      maxWatchMs: opts.maxWatchMs ?? 30_000,
      loginRateLimit: opts.loginRateLimit ?? { perKey: 5, perIp: 30, windowMs: 60_000 },
    },
    artifacts: {
      dir: opts.artifactsDir ?? join(tmpdir(), 'triplane-artifacts'),
      maxBytes: opts.artifactMaxBytes ?? 50 * 1024 ** 3,
    },
  };

  const app = Fastify({
    loggerInstance: (opts.logger ?? silentLogger()) as FastifyBaseLogger,
    bodyLimit: ctx.options.bodyLimit,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    return503OnClosing: true,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // Router-level errors (bad percent-encoding, over-long params) bypass setErrorHandler.
    frameworkErrors: (err, _req, reply) => sendError(reply, fromFastifyError(err)),
  });
  app.decorate('ctx', ctx);
  app.decorateRequest('principal', null as never);
  app.setValidatorCompiler(validatorCompiler);
  installErrorHandlers(app);
  // JSON only: without this Fastify parses text/plain bodies as strings (400 instead of 415).
  app.removeContentTypeParser('text/plain');

  await app.register(fastifyCookie);
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Triplane control plane API', version: '1' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          session: { type: 'apiKey', in: 'cookie', name: 'triplane_session' },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
  });

  const requests = new Counter({
    name: 'triplane_api_requests_total',
    help: 'API requests by method, route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [metrics],
  });
  const latency = new Histogram({
    name: 'triplane_api_request_duration_seconds',
    help: 'API request latency',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [metrics],
  });

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
    const path = req.url.split('?')[0] ?? '';
    req.principal = { kind: 'anonymous' };
    if (UNAUTHENTICATED_PATHS.has(path)) return;
    // The dashboard's files are public; the API it calls checks the session (dashboard-static.ts).
    if (opts.dashboardDir && isDashboardRequest(req.method, path)) return;
    req.principal = await authenticate(app, req);
  });
  // PostgreSQL text cannot hold U+0000 and no name, hostname or message needs it: refuse it in
  // every body and query string up front so both stores answer the same 400.
  app.addHook('preValidation', async (req) => {
    if (containsNul(req.query) || containsNul(req.body)) {
      throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'text must not contain NUL (U+0000) characters');
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    latency.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    try {
      await sql`select 1`.execute(ctx.store.db);
      const { ok } = await ctx.store.integrityCheck().catch(() => ({ ok: true }));
      return reply.send({ status: ok ? 'ready' : 'degraded' });
    } catch {
      return reply.code(503).send({ status: 'unavailable' });
    }
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    reply.type(metrics.contentType);
    return metrics.metrics();
  });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(v1Routes, { prefix: '/api/v1' });
  if (opts.dashboardDir) registerDashboard(app, opts.dashboardDir);
  await app.ready();
  return app;
}

function containsNul(v: unknown, depth = 0): boolean {
  if (typeof v === 'string') return v.includes('\u0000');
  if (depth > 32 || v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) return v.some((x) => containsNul(x, depth + 1));
  for (const [k, x] of Object.entries(v)) if (k.includes('\u0000') || containsNul(x, depth + 1)) return true;
  return false;
}
