import type { FastifyInstance } from 'fastify';

/** /api/v1 routes for users. */
export default async function usersRoutes(_app: FastifyInstance): Promise<void> {}
