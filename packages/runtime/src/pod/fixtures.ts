import type { EnvironmentSpec } from './types.ts';

/** Fixtures shared by the golden tests and the integration test. */
export const TEST_IMAGES = {
  web: 'localhost/triplane/web:0123456789abcdef',
  php: 'localhost/triplane/php:0123456789abcdef',
  redis: 'localhost/triplane/redis:0123456789abcdef',
  mariadb: 'localhost/triplane/mariadb:0123456789abcdef',
};

export function essentialsSpec(over: Partial<EnvironmentSpec> = {}): EnvironmentSpec {
  return {
    siteId: 'shop1',
    envName: 'production',
    uidSlot: 3,
    plan: { kind: 'essentials' },
    images: { ...TEST_IMAGES },
    web: { hostPort: 18080 },
    php: { memoryLimit: '256M', uploadMaxFilesize: '64M', maxExecutionTime: 60, pm: { mode: 'static', maxChildren: 6 } },
    redis: { maxMemory: '64mb' },
    database: { name: 'wordpress', user: 'wordpress' },
    resources: {
      web: { memory: '64Mi', cpu: '1' },
      php: { memory: '768Mi', cpu: '2' },
      redis: { memory: '96Mi', cpu: '0.5' },
      db: { memory: '512Mi', cpu: '1' },
      pids: 1024,
    },
    volumes: { wpContent: 'shop1-production-wp-content', dbData: 'shop1-production-db-data' },
    secrets: {
      dbPassword: { secret: 'shop1-production-secrets', key: 'db-password' },
      wpSalt: { secret: 'shop1-production-secrets', key: 'wp-salt' },
    },
    ...over,
  };
}

export function proSpec(): EnvironmentSpec {
  const { mariadb: _omit, ...images } = TEST_IMAGES;
  return essentialsSpec({
    siteId: 'bigshop',
    envName: 'staging',
    uidSlot: 12,
    plan: { kind: 'pro', db: { host: 'db1.internal.example', port: 3307 } },
    images,
    web: { hostPort: 18181, hostIP: '127.0.0.1' },
    php: {
      memoryLimit: '512M',
      uploadMaxFilesize: '128M',
      postMaxSize: '130M',
      maxExecutionTime: 120,
      pm: { mode: 'dynamic', maxChildren: 12 },
    },
    database: { name: 'bigshop_staging', user: 'bigshop_stg' },
    resources: {
      web: { memory: '128Mi', cpu: '1' },
      php: { memory: '2Gi', cpu: '2' },
      redis: { memory: '256Mi', cpu: '500m' },
    },
    volumes: { wpContent: 'bigshop-staging-wp-content' },
    secrets: {
      dbPassword: { secret: 'bigshop-staging-secrets', key: 'db-password' },
      wpSalt: { secret: 'bigshop-staging-secrets', key: 'wp-salt' },
    },
  });
}
