import type { FastifyInstance } from 'fastify';

/** /api/v1 routes for servers. */
export default async function serversRoutes(_app: FastifyInstance): Promise<void> {}
