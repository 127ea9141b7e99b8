import type { FastifyInstance } from 'fastify';

/** /api/v1 routes for environments. */
export default async function environmentsRoutes(_app: FastifyInstance): Promise<void> {}
