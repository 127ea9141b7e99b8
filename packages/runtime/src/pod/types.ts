/**
 * The input of the pod translation: one site environment as the agent sees it.
 * Defined locally until `@triplane/spec` carries the stack model; field names follow it.
 *
 * Example (Essentials: database container in the pod):
 *   {
 *     siteId: 'shop1', envName: 'production', uidSlot: 3,
 *     plan: { kind: 'essentials' },
 *     images: { web: 'localhost/triplane/web:…', php: 'localhost/triplane/php:…', redis: '…', mariadb: '…' },
 *     web: { hostPort: 18080 },
 *     php: { memoryLimit: '256M', uploadMaxFilesize: '64M', maxExecutionTime: 60, pm: { mode: 'static', maxChildren: 6 } },
 *     …
 *   }
 */
export type Plan =
  | { kind: 'essentials' }
  /** Pro: no database container; WordPress talks to an external MySQL/MariaDB. */
  | { kind: 'pro'; db: { host: string; port: number } };

/** A Kubernetes-style quantity pair applied as cgroup limits (rootful: enforced on cgroup v1). */
export interface ContainerLimits {
  /** e.g. '256Mi', '1Gi' */
  memory: string;
  /** e.g. '1', '0.5', '500m' */
  cpu: string;
}

/** A key inside the environment's podman secret (a flat JSON map of base64 values). */
export interface SecretRef {
  secret: string;
  key: string;
}

export interface PhpSettings {
  memoryLimit: string;
  uploadMaxFilesize: string;
  /** Defaults to uploadMaxFilesize. */
  postMaxSize?: string;
  maxExecutionTime: number;
  pm: { mode: 'static' | 'dynamic' | 'ondemand'; maxChildren: number };
}

export interface EnvironmentSpec {
  /** DNS label, unique per platform. */
  siteId: string;
  /** DNS label: production, staging, … */
  envName: string;
  /**
   * Host uid slot: the environment's processes run as host uids
   * 1000000000 + uidSlot*65536 … +65535 (see docs/runtime.md). Allocated once per
   * environment by the control plane and never reused while its volumes exist.
   */
  uidSlot: number;
  plan: Plan;
  images: { web: string; php: string; redis: string; mariadb?: string };
  web: { hostPort: number; hostIP?: string };
  php: PhpSettings;
  redis: { maxMemory: string };
  database: { name: string; user: string };
  resources: {
    web: ContainerLimits;
    php: ContainerLimits;
    redis: ContainerLimits;
    db?: ContainerLimits;
    /**
     * Max processes+threads for the whole pod (default 1024). Podman 4.3's kube play ignores
     * pids limits, so the driver writes it to the pod's pids cgroup after each play.
     */
    pids?: number;
  };
  /** Podman named volumes (created on first use). `dbData` is unused on Pro. */
  volumes: { wpContent: string; dbData?: string };
  secrets: { dbPassword: SecretRef; wpSalt: SecretRef };
}
