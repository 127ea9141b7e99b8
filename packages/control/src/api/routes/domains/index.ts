import type { FastifyInstance } from 'fastify';

/** /api/v1 routes for domains. */
export default async function domainsRoutes(_app: FastifyInstance): Promise<void> {}
