import type { FastifyInstance } from 'fastify';

/** /api/v1 routes for edge. */
export default async function edgeRoutes(_app: FastifyInstance): Promise<void> {}
