import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { translateEnvironment } from '@triplane/runtime';
import { assignedEnv } from '../testing/fixtures.ts';
import { podIdentity, toRuntimeSpec } from './runtime-spec.ts';

const IMAGES = {
  web: 'localhost/triplane/web:0123456789abcdef',
  php: 'localhost/triplane/php:0123456789abcdef',
  redis: 'localhost/triplane/redis:0123456789abcdef',
  mariadb: 'localhost/triplane/mariadb:0123456789abcdef',
};
const O = { images: IMAGES, webHostIp: '127.0.0.1' };

describe('AssignedEnvironment → runtime pod spec', () => {
  it('maps an Essentials environment (database in the pod) and passes the runtime validation', () => {
    const env = assignedEnv(3);
    const spec = toRuntimeSpec(env, O);
    assert.deepEqual(spec, {
      siteId: 'shop3',
      envName: 'production',
      uidSlot: 3,
      plan: { kind: 'essentials' },
      images: IMAGES,
      web: { hostPort: 20003, hostIP: '127.0.0.1' },
      php: { memoryLimit: '256M', uploadMaxFilesize: '64M', maxExecutionTime: 60, pm: { mode: 'static', maxChildren: 4 } },
      redis: { maxMemory: '91mb' },
      database: { name: 'wordpress', user: 'wordpress' },
      resources: {
        web: { memory: '81Mi', cpu: '500m' },
        php: { memory: '460Mi', cpu: '2000m' },
        redis: { memory: '122Mi', cpu: '500m' },
        db: { memory: '358Mi', cpu: '2000m' },
        pids: 1024,
      },
      volumes: { wpContent: 'shop3-production-wp-content', dbData: 'shop3-production-db-data' },
      secrets: {
        dbPassword: { secret: 'shop3-production-secrets', key: 'db-password' },
        wpSalt: { secret: 'shop3-production-secrets', key: 'wp-salt' },
      },
    });
    const pod = translateEnvironment(spec);
    assert.equal(pod.name, 'shop3-production');
    assert.match(pod.yaml, /hostPort: 20003/);
  });

  it('maps a Pro environment to the external database, without a db container', () => {
    const env = assignedEnv(4, {
      plan: 'pro',
      externalDatabase: { host: 'db1.example.com', port: 3307, name: 'shop_prod', user: 'shop' },
      resources: { cpuMillis: 4000, memoryMb: 2048, pids: 65536 },
    });
    const spec = toRuntimeSpec(env, { ...O, webHostIp: '0.0.0.0' });
    assert.deepEqual(spec.plan, { kind: 'pro', db: { host: 'db1.example.com', port: 3307 } });
    assert.deepEqual(spec.database, { name: 'shop_prod', user: 'shop' });
    assert.equal(spec.images.mariadb, undefined);
    assert.equal(spec.volumes.dbData, undefined);
    assert.equal(spec.resources.db, undefined);
    assert.equal(spec.resources.pids, 32768, 'clamped to what the runtime accepts');
    assert.equal(spec.web.hostIP, '0.0.0.0');
    assert.doesNotMatch(translateEnvironment(spec).yaml, /mariadb/);
  });

  it('names pods from the platform-unique Unix user when names are long', () => {
    const long = 'a-very-long-site-name-for-a-shop-x';
    const env = assignedEnv(5, {
      siteName: long,
      name: 'staging',
      runtime: { unixUser: 'tp-a-very-long-site-name-st-4k9x', uidSlot: 5, webPort: 20005 },
    });
    const id = podIdentity(env);
    assert.deepEqual(id, { siteId: 'a-very-long-site-name-st-4k9x', envName: 'staging' });
    assert.ok(`${id.siteId}-${id.envName}`.length <= 63);
    translateEnvironment(toRuntimeSpec(env, O));
    // canonical short names stay readable
    assert.deepEqual(podIdentity(assignedEnv(6)), { siteId: 'shop6', envName: 'production' });
    // a hash-only user still gives a valid label
    const hashed = podIdentity(assignedEnv(7, { runtime: { unixUser: 'tp-0f3a9c', uidSlot: 7, webPort: 20007 } }));
    assert.match(hashed.siteId, /^[a-z][a-z0-9-]*[a-z0-9]$/);
  });

  it('an out-of-range uid slot is a terminal TRIPLANE_ERR_POD_SPEC_INVALID from the runtime', () => {
    const env = assignedEnv(8, { runtime: { unixUser: 'tp-shop8-production', uidSlot: 999_999, webPort: 20008 } });
    assert.throws(() => translateEnvironment(toRuntimeSpec(env, O)), { code: 'TRIPLANE_ERR_POD_SPEC_INVALID' });
  });
});
