import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { isoNow, TriplaneError } from '@triplane/kernel';
import { EdgeSnapshot, WatchQuery } from '@triplane/spec';
import type { FastifyInstance } from 'fastify';
import { loadEdgeSnapshot } from '../../../desired/edge-snapshot.ts';
import { errorResponses } from '../../errors.ts';
import { etagOf, serveWatched, watchRegistry } from '../agents/watch.ts';
import { registerWafEventsIngest } from './waf-events.ts';

/**
 * /api/v1/edge/snapshot — the edge's whole configuration (shape documented in
 * packages/spec/src/edge-snapshot.ts). Edge-role servers and superusers only.
 * The ETag hashes the snapshot without `generatedAt`, so it names the content.
 */
export default async function edgeRoutes(base: FastifyInstance): Promise<void> {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { store, clock } = app.ctx;
  const active = watchRegistry(app);
  registerWafEventsIngest(base);

  app.get(
    '/edge/snapshot',
    {
      schema: {
        tags: ['edge'],
        summary: 'The compiled edge configuration (ETag / If-None-Match / ?wait= long-poll)',
        querystring: WatchQuery,
        response: { 200: EdgeSnapshot, 304: Type.Null({ description: 'not modified' }), ...errorResponses(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const p = req.principal;
      if (p.kind === 'anonymous') throw new TriplaneError('TRIPLANE_ERR_UNAUTHENTICATED', 'authentication required');
      const allowed = (p.kind === 'server' && p.role === 'edge') || (p.kind === 'user' && p.isSuperuser);
      if (!allowed) throw new TriplaneError('TRIPLANE_ERR_FORBIDDEN', 'edge servers and platform administrators only');
      return serveWatched(req, reply, {
        waitSeconds: req.query.wait,
        active,
        build: async () => {
          const snap = await loadEdgeSnapshot(store.db, isoNow(clock));
          const { generatedAt: _informational, ...content } = snap;
          return { body: JSON.stringify(snap), etag: etagOf(JSON.stringify(content)) };
        },
      });
    },
  );
}
