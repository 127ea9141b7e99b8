import type { FastifyInstance } from 'fastify';

/** /api/v1 routes for jobs. */
export default async function jobsRoutes(_app: FastifyInstance): Promise<void> {}
