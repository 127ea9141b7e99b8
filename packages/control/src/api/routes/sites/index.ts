import type { FastifyInstance } from 'fastify';

/** /api/v1 routes for sites. */
export default async function sitesRoutes(_app: FastifyInstance): Promise<void> {}
