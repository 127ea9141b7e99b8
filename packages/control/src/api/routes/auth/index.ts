import type { FastifyInstance } from 'fastify';

/** /api/v1 routes for auth. */
export default async function authRoutes(_app: FastifyInstance): Promise<void> {}
