import { createHash } from 'node:crypto';
import type { EnvironmentSpec as RuntimeSpec } from '@triplane/runtime';
import { SECRET_KEYS, secretName } from '@triplane/runtime';
import type { AssignedEnvironment } from '@triplane/spec';

/**
 * AssignedEnvironment (what the control plane asks for) → the runtime package's pod input
 * (`@triplane/runtime` EnvironmentSpec), pure. Decisions made here:
 *
 * - Pod identity: `<site>-<env>` (e.g. `shop-production`), from the platform-unique Unix user
 *   the control plane allocated (`tp-<site>-<env>`, hashed when long) so two environments never
 *   share a pod name; the runtime caps each label at 31 characters.
 * - Isolation: the runtime runs pods rootful with `--userns=auto` on the environment's uid slot
 *   (host uids 1e9 + slot·65536 …); the Unix user name is only used for naming here.
 * - Resources: the environment's memory is split between the containers (Essentials: php 45 %,
 *   db 35 %, redis 12 %, web 8 %; Pro: php 75 %, redis 15 %, web 10 %), at least 32 MiB each;
 *   CPU limits are ceilings, not shares: php and db may each use the whole environment's CPU,
 *   web and redis a quarter. Redis maxmemory = 75 % of its container. Pids are pod-wide.
 * - PHP: pm = static with `workers` children; memory/upload/time limits from the spec.
 *   (`opcache` is always on in the image: the runtime has no switch for it yet.)
 * - Database: Essentials runs MariaDB in the pod with database/user `wordpress`; Pro points
 *   at `externalDatabase`.
 *
 * Example:
 *   toRuntimeSpec(env, { images: tags, webHostIp: '127.0.0.1' }).siteId // 'shop'
 */
export interface RuntimeSpecOptions {
  /** name → tag (`web`, `php`, `redis`, `mariadb`), e.g. from runtime's computeImageTags(). */
  images: Record<string, string>;
  /** Address the web port is published on (127.0.0.1 on one machine; 0.0.0.0 for remote edges). */
  webHostIp: string;
}

const LABEL_MAX = 31;

function label(s: string, fallbackSalt: string): string {
  let v = s
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (!/^[a-z]/.test(v)) v = `e${v}`;
  if (v.length > LABEL_MAX) {
    const h = createHash('sha256').update(fallbackSalt).digest('hex').slice(0, 6);
    v = `${v.slice(0, LABEL_MAX - 7).replace(/-+$/, '')}-${h}`;
  }
  return v.replace(/-+$/, '') || 'env';
}

/** The runtime pod identity of an environment: `{ siteId, envName }` → pod `<siteId>-<envName>`. */
export function podIdentity(env: Pick<AssignedEnvironment, 'id' | 'siteName' | 'name' | 'runtime'>): {
  siteId: string;
  envName: string;
} {
  const user = env.runtime.unixUser;
  const canonical = `tp-${env.siteName}-${env.name}`;
  if (user === canonical && env.siteName.length <= LABEL_MAX && env.name.length <= LABEL_MAX) {
    return { siteId: env.siteName, envName: env.name };
  }
  // The control plane shortened the user (`tp-a-very-long-site-name-st-4k9x`): unique, use it.
  const unique = user.startsWith('tp-') ? user.slice(3) : user;
  return { siteId: label(unique, env.id), envName: label(env.name, env.id) };
}

function split(totalMb: number, share: number): number {
  return Math.max(32, Math.floor(totalMb * share));
}

export function toRuntimeSpec(env: AssignedEnvironment, o: RuntimeSpecOptions): RuntimeSpec {
  const { siteId, envName } = podIdentity(env);
  const pod = `${siteId}-${envName}`;
  const pro = env.externalDatabase !== null;
  const mem = env.resources.memoryMb;
  const cpu = env.resources.cpuMillis;
  const quarter = `${Math.max(100, Math.floor(cpu / 4))}m`;
  const redisMb = split(mem, pro ? 0.15 : 0.12);
  const images: RuntimeSpec['images'] = {
    web: o.images.web ?? '',
    php: o.images.php ?? '',
    redis: o.images.redis ?? '',
  };
  if (!pro) images.mariadb = o.images.mariadb ?? '';
  const secret = secretName(pod);
  const spec: RuntimeSpec = {
    siteId,
    envName,
    uidSlot: env.runtime.uidSlot,
    plan:
      env.externalDatabase !== null
        ? { kind: 'pro', db: { host: env.externalDatabase.host, port: env.externalDatabase.port } }
        : { kind: 'essentials' },
    images,
    web: { hostPort: env.runtime.webPort, hostIP: o.webHostIp },
    php: {
      memoryLimit: `${env.php.memoryLimitMb}M`,
      uploadMaxFilesize: `${env.php.uploadMaxMb}M`,
      maxExecutionTime: env.php.maxExecutionTimeS,
      pm: { mode: 'static', maxChildren: env.php.workers },
    },
    redis: { maxMemory: `${Math.max(16, Math.floor(redisMb * 0.75))}mb` },
    database:
      env.externalDatabase !== null
        ? { name: env.externalDatabase.name, user: env.externalDatabase.user }
        : { name: 'wordpress', user: 'wordpress' },
    resources: {
      web: { memory: `${split(mem, pro ? 0.1 : 0.08)}Mi`, cpu: quarter },
      php: { memory: `${split(mem, pro ? 0.75 : 0.45)}Mi`, cpu: `${cpu}m` },
      redis: { memory: `${redisMb}Mi`, cpu: quarter },
      pids: Math.min(32768, Math.max(64, env.resources.pids)),
    },
    volumes: { wpContent: `${pod}-wp-content` },
    secrets: {
      dbPassword: { secret, key: SECRET_KEYS.dbPassword },
      wpSalt: { secret, key: SECRET_KEYS.wpSalt },
    },
  };
  if (!pro) {
    spec.resources.db = { memory: `${split(mem, 0.35)}Mi`, cpu: `${cpu}m` };
    spec.volumes.dbData = `${pod}-db-data`;
  }
  return spec;
}
