import { type AssignedEnvironment, DEFAULT_PHP, DEFAULT_RESOURCES } from '@triplane/spec';

/** An assigned environment for tests; `n` picks distinct ids, names, slots and ports. */
export function assignedEnv(n = 1, over: Partial<AssignedEnvironment> = {}): AssignedEnvironment {
  const id = `env_${String(n).padStart(16, '0')}`;
  return {
    id,
    siteId: `site_${String(n).padStart(16, '0')}`,
    orgId: 'org_0000000000000001',
    siteName: `shop${n}`,
    name: 'production',
    kind: 'wordpress',
    plan: 'essentials',
    desiredState: 'running',
    generation: 1,
    php: { ...DEFAULT_PHP },
    resources: { ...DEFAULT_RESOURCES },
    replicas: 1,
    serverIds: ['srv_0000000000000001'],
    externalDatabase: null,
    domains: [`shop${n}.example.com`],
    runtime: { unixUser: `tp-shop${n}-production`, uidSlot: n, webPort: 20000 + n },
    ...over,
  };
}
