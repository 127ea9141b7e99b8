import type { FastifyInstance } from 'fastify';

/** /api/v1 routes for orgs. */
export default async function orgsRoutes(_app: FastifyInstance): Promise<void> {}
