import type { FastifyInstance } from 'fastify';

/** /api/v1 routes for agents. */
export default async function agentsRoutes(_app: FastifyInstance): Promise<void> {}
