import { RUNTIME_ERROR_CODES, TriplaneError } from '../errors.ts';
import type { ContainerLimits, EnvironmentSpec } from './types.ts';

/**
 * Validation of an EnvironmentSpec before translation. Every string that ends up in the
 * Pod YAML, a podman argument, an nginx/php-fpm/MariaDB setting or a SQL statement is
 * checked against a strict pattern here. Pure. Throws TRIPLANE_ERR_POD_SPEC_INVALID
 * listing every problem.
 */
export const UID_BASE = 1_000_000_000;
export const UID_SLOT_SIZE = 65_536;
/** Slots that fit in the `triplane` subuid reservation (1e9 uids) below 2^31. */
export const UID_SLOTS = Math.floor(1_000_000_000 / UID_SLOT_SIZE);

const LABEL = /^[a-z][a-z0-9-]{0,29}[a-z0-9]$|^[a-z]$/;
const IMAGE = /^[a-z0-9.-]+(?::\d+)?\/[a-z0-9._/-]+(?::[A-Za-z0-9._-]{1,128})?(?:@sha256:[0-9a-f]{64})?$/;
const MEMORY = /^[1-9]\d*(?:Ki|Mi|Gi|k|M|G)?$/;
const CPU = /^(?:\d+(?:\.\d{1,3})?|[1-9]\d*m)$/;
const PHP_SIZE = /^[1-9]\d*[KMG]?$/;
const REDIS_SIZE = /^[1-9]\d*(?:kb|mb|gb)$/;
const SQL_NAME = /^[A-Za-z0-9_]{1,32}$/;
const VOLUME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const SECRET = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const SECRET_KEY = /^[A-Za-z0-9_.-]{1,63}$/;
const HOSTNAME =
  /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function podName(spec: Pick<EnvironmentSpec, 'siteId' | 'envName'>): string {
  return `${spec.siteId}-${spec.envName}`;
}

export function uidBase(slot: number): number {
  return UID_BASE + slot * UID_SLOT_SIZE;
}

function port(v: unknown): boolean {
  return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;
}

export function validateEnvironment(spec: EnvironmentSpec): void {
  const p: string[] = [];
  const check = (ok: boolean, msg: string) => {
    if (!ok) p.push(msg);
  };
  const limits = (name: string, l: ContainerLimits | undefined) => {
    check(!!l && MEMORY.test(l.memory), `resources.${name}.memory must look like 256Mi`);
    check(!!l && CPU.test(l.cpu), `resources.${name}.cpu must look like 1, 0.5 or 500m`);
  };
  check(LABEL.test(spec.siteId), 'siteId must be a DNS label (a-z, 0-9, -; at most 31 chars)');
  check(LABEL.test(spec.envName), 'envName must be a DNS label (a-z, 0-9, -; at most 31 chars)');
  check(
    Number.isInteger(spec.uidSlot) && spec.uidSlot >= 0 && spec.uidSlot < UID_SLOTS,
    `uidSlot must be an integer in [0, ${UID_SLOTS})`,
  );
  check(IMAGE.test(spec.images.web), 'images.web is not an image reference');
  check(IMAGE.test(spec.images.php), 'images.php is not an image reference');
  check(IMAGE.test(spec.images.redis), 'images.redis is not an image reference');
  check(port(spec.web.hostPort) && spec.web.hostPort >= 1024, 'web.hostPort must be in [1024, 65535]');
  check(spec.web.hostIP === undefined || IPV4.test(spec.web.hostIP), 'web.hostIP must be an IPv4 address');
  check(PHP_SIZE.test(spec.php.memoryLimit), 'php.memoryLimit must look like 256M');
  check(PHP_SIZE.test(spec.php.uploadMaxFilesize), 'php.uploadMaxFilesize must look like 64M');
  check(spec.php.postMaxSize === undefined || PHP_SIZE.test(spec.php.postMaxSize), 'php.postMaxSize must look like 64M');
  check(
    Number.isInteger(spec.php.maxExecutionTime) && spec.php.maxExecutionTime >= 1 && spec.php.maxExecutionTime <= 3600,
    'php.maxExecutionTime must be 1..3600 seconds',
  );
  check(['static', 'dynamic', 'ondemand'].includes(spec.php.pm.mode), 'php.pm.mode must be static, dynamic or ondemand');
  check(
    Number.isInteger(spec.php.pm.maxChildren) && spec.php.pm.maxChildren >= 1 && spec.php.pm.maxChildren <= 256,
    'php.pm.maxChildren must be 1..256',
  );
  check(REDIS_SIZE.test(spec.redis.maxMemory), 'redis.maxMemory must look like 64mb');
  check(SQL_NAME.test(spec.database.name), 'database.name must match [A-Za-z0-9_]{1,32}');
  check(SQL_NAME.test(spec.database.user), 'database.user must match [A-Za-z0-9_]{1,32}');
  check(
    spec.resources.pids === undefined ||
      (Number.isInteger(spec.resources.pids) && spec.resources.pids >= 64 && spec.resources.pids <= 32768),
    'resources.pids must be 64..32768',
  );
  limits('web', spec.resources.web);
  limits('php', spec.resources.php);
  limits('redis', spec.resources.redis);
  check(VOLUME.test(spec.volumes.wpContent), 'volumes.wpContent must be a volume name');
  for (const [k, ref] of Object.entries(spec.secrets)) {
    check(SECRET.test(ref.secret) && SECRET_KEY.test(ref.key), `secrets.${k} must name a podman secret and a key`);
  }
  if (spec.plan.kind === 'essentials') {
    check(spec.images.mariadb !== undefined && IMAGE.test(spec.images.mariadb), 'images.mariadb is required on Essentials');
    check(spec.volumes.dbData !== undefined && VOLUME.test(spec.volumes.dbData), 'volumes.dbData is required on Essentials');
    check(spec.volumes.dbData !== spec.volumes.wpContent, 'volumes.dbData and volumes.wpContent must differ');
    limits('db', spec.resources.db);
  } else if (spec.plan.kind === 'pro') {
    check(HOSTNAME.test(spec.plan.db.host) || IPV4.test(spec.plan.db.host), 'plan.db.host must be a hostname or IPv4 address');
    check(port(spec.plan.db.port), 'plan.db.port must be a TCP port');
  } else {
    p.push('plan.kind must be essentials or pro');
  }
  check(podName(spec).length <= 63, 'siteId-envName must be at most 63 characters');
  if (p.length > 0) {
    throw new TriplaneError(
      RUNTIME_ERROR_CODES.podSpecInvalid,
      `invalid environment ${spec.siteId}/${spec.envName}: ${p.join('; ')}`,
      { problems: p },
    );
  }
}
