import type { FastifyInstance } from 'fastify';
import agents from './agents/index.ts';
import agentJobs from './agents/jobs.ts';
import audit from './audit/index.ts';
import auth from './auth/index.ts';
import backups from './backups/index.ts';
import domains from './domains/index.ts';
import edge from './edge/index.ts';
import environments from './environments/index.ts';
import files from './files/index.ts';
import jobs from './jobs/index.ts';
import logs from './logs/index.ts';
import members from './members/index.ts';
import metrics from './metrics/index.ts';
import orgs from './orgs/index.ts';
import servers from './servers/index.ts';
import sites from './sites/index.ts';
import tokens from './tokens/index.ts';
import users from './users/index.ts';

/** Every resource's routes, mounted under /api/v1. One folder per resource. */
export default async function v1Routes(app: FastifyInstance): Promise<void> {
  for (const plugin of [
    auth,
    orgs,
    users,
    members,
    tokens,
    servers,
    agents,
    agentJobs,
    backups,
    sites,
    environments,
    files,
    domains,
    edge,
    audit,
    jobs,
  ]) {
    await app.register(plugin);
  }
  await app.register(metrics);
  await app.register(logs);
}
