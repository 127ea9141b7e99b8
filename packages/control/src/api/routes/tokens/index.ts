import type { FastifyInstance } from 'fastify';

/** /api/v1 routes for tokens. */
export default async function tokensRoutes(_app: FastifyInstance): Promise<void> {}
