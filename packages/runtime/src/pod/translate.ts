import type { ContainerLimits, EnvironmentSpec, SecretRef } from './types.ts';
import { podName, UID_SLOT_SIZE, uidBase, validateEnvironment } from './validate.ts';
import type { YamlValue } from './yaml.ts';
import { toYaml } from './yaml.ts';

/**
 * EnvironmentSpec -> Kubernetes Pod YAML for `podman kube play`, plus the play arguments
 * that cannot live in the YAML on Podman 4.3 (the user namespace). Pure; golden-tested.
 *
 * One pod per environment; containers share the pod network namespace and talk over
 * 127.0.0.1: web (nginx :8080, the only published port) -> php (php-fpm :9000) ->
 * redis (:6379) and db (MariaDB :3306, Essentials only; Pro points at an external server).
 *
 * Example:
 *   const { yaml, playArgs } = translateEnvironment(spec);
 *   // write yaml to /var/lib/triplane/pods/<name>.yaml, then: podman ...playArgs <file>
 */
export interface TranslatedPod {
  name: string;
  yaml: string;
  /** `podman` arguments before the YAML path, e.g. ['kube','play','--replace','--userns=…']. */
  playArgs: string[];
  /** Host uid/gid range the environment's processes run as. */
  hostIds: { start: number; count: number };
  /** Pod-wide pids.max the driver writes to the pod cgroup after `kube play`. */
  podPidsLimit: number;
}

export const LABEL_PREFIX = 'triplane.dev';
export const DEFAULT_POD_PIDS = 1024;

function env(name: string, value: string): YamlValue {
  return { name, value };
}

function secretEnv(name: string, ref: SecretRef): YamlValue {
  return { name, valueFrom: { secretKeyRef: { name: ref.secret, key: ref.key } } };
}

function resources(l: ContainerLimits): YamlValue {
  return { limits: { memory: l.memory, cpu: l.cpu } };
}

/** php-fpm pm children for dynamic mode, derived from maxChildren. Pure. */
export function pmServers(maxChildren: number): { start: number; minSpare: number; maxSpare: number } {
  const minSpare = Math.max(1, Math.floor(maxChildren / 4));
  const maxSpare = Math.max(minSpare, Math.floor(maxChildren / 2));
  const start = Math.min(maxSpare, Math.max(minSpare, Math.floor(maxChildren / 3)));
  return { start, minSpare, maxSpare };
}

/** php.ini size (64M) -> nginx size (64m). */
function nginxSize(phpSize: string): string {
  return phpSize.toLowerCase();
}

export function userNamespaceArg(uidSlot: number): string {
  const base = uidBase(uidSlot);
  return `--userns=auto:uidmapping=0:${base}:${UID_SLOT_SIZE},gidmapping=0:${base}:${UID_SLOT_SIZE}`;
}

export function translateEnvironment(spec: EnvironmentSpec): TranslatedPod {
  validateEnvironment(spec);
  const name = podName(spec);
  const essentials = spec.plan.kind === 'essentials';
  const dbHost = spec.plan.kind === 'pro' ? `${spec.plan.db.host}:${spec.plan.db.port}` : '127.0.0.1:3306';
  const pm = pmServers(spec.php.pm.maxChildren);
  const postMax = spec.php.postMaxSize ?? spec.php.uploadMaxFilesize;
  const contentMount = (readOnly: boolean): YamlValue => ({
    name: spec.volumes.wpContent,
    mountPath: '/var/lib/wordpress/wp-content',
    readOnly: readOnly ? true : undefined,
  });

  const containers: YamlValue[] = [];
  if (essentials) {
    containers.push({
      name: 'db',
      image: spec.images.mariadb as string,
      env: [
        env('MARIADB_DATABASE', spec.database.name),
        env('MARIADB_USER', spec.database.user),
        secretEnv('MARIADB_PASSWORD', spec.secrets.dbPassword),
      ],
      resources: resources(spec.resources.db as ContainerLimits),
      volumeMounts: [{ name: spec.volumes.dbData as string, mountPath: '/var/lib/mysql' }],
    });
  }
  containers.push({
    name: 'redis',
    image: spec.images.redis,
    command: ['redis-server'],
    args: ['/etc/redis/triplane.conf', '--maxmemory', spec.redis.maxMemory],
    resources: resources(spec.resources.redis),
  });
  containers.push({
    name: 'php',
    image: spec.images.php,
    env: [
      env('PHP_PM', spec.php.pm.mode),
      env('PHP_PM_MAX_CHILDREN', String(spec.php.pm.maxChildren)),
      env('PHP_PM_START_SERVERS', String(pm.start)),
      env('PHP_PM_MIN_SPARE_SERVERS', String(pm.minSpare)),
      env('PHP_PM_MAX_SPARE_SERVERS', String(pm.maxSpare)),
      env('PHP_MEMORY_LIMIT', spec.php.memoryLimit),
      env('PHP_UPLOAD_MAX_FILESIZE', spec.php.uploadMaxFilesize),
      env('PHP_POST_MAX_SIZE', postMax),
      env('PHP_MAX_EXECUTION_TIME', String(spec.php.maxExecutionTime)),
      env('PHP_REQUEST_TERMINATE_TIMEOUT', `${spec.php.maxExecutionTime + 30}s`),
      env('WORDPRESS_DB_HOST', dbHost),
      env('WORDPRESS_DB_NAME', spec.database.name),
      env('WORDPRESS_DB_USER', spec.database.user),
      secretEnv('WORDPRESS_DB_PASSWORD', spec.secrets.dbPassword),
      secretEnv('WORDPRESS_SALT', spec.secrets.wpSalt),
      env('WORDPRESS_REDIS_HOST', '127.0.0.1'),
      env('WORDPRESS_REDIS_PORT', '6379'),
    ],
    resources: resources(spec.resources.php),
    volumeMounts: [contentMount(false)],
  });
  containers.push({
    name: 'web',
    image: spec.images.web,
    env: [env('NGINX_CLIENT_MAX_BODY_SIZE', nginxSize(postMax))],
    ports: [{ containerPort: 8080, hostPort: spec.web.hostPort, hostIP: spec.web.hostIP ?? '127.0.0.1', protocol: 'TCP' }],
    resources: resources(spec.resources.web),
    volumeMounts: [contentMount(true)],
  });

  const volumes: YamlValue[] = [];
  if (essentials)
    volumes.push({ name: spec.volumes.dbData as string, persistentVolumeClaim: { claimName: spec.volumes.dbData as string } });
  volumes.push({ name: spec.volumes.wpContent, persistentVolumeClaim: { claimName: spec.volumes.wpContent } });

  const doc: YamlValue = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      labels: {
        'app.kubernetes.io/managed-by': 'triplane',
        [`${LABEL_PREFIX}/site`]: spec.siteId,
        [`${LABEL_PREFIX}/environment`]: spec.envName,
        [`${LABEL_PREFIX}/plan`]: spec.plan.kind,
      },
    },
    spec: {
      restartPolicy: 'Always',
      hostname: name,
      containers,
      volumes,
    },
  };
  const base = uidBase(spec.uidSlot);
  return {
    name,
    yaml: toYaml(doc),
    playArgs: ['kube', 'play', '--replace', '--quiet', userNamespaceArg(spec.uidSlot)],
    hostIds: { start: base, count: UID_SLOT_SIZE },
    podPidsLimit: spec.resources.pids ?? DEFAULT_POD_PIDS,
  };
}
