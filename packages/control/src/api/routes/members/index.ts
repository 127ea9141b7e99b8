import type { FastifyInstance } from 'fastify';

/** /api/v1 routes for members. */
export default async function membersRoutes(_app: FastifyInstance): Promise<void> {}
