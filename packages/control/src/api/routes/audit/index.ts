import type { FastifyInstance } from 'fastify';

/** /api/v1 routes for audit. */
export default async function auditRoutes(_app: FastifyInstance): Promise<void> {}
