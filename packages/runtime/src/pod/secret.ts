import { randomBytes } from 'node:crypto';

/**
 * Environment secrets as podman stores them for `secretKeyRef`: Podman 4.3's kube play
 * reads the secret named in `secretKeyRef.name` as a flat JSON object of base64 values
 * (`{"db-password":"cEBzcw=="}`) and picks `key` from it (measured; a Kubernetes Secret
 * document is rejected). Create it with `podman secret create NAME -` from this string;
 * keep the agent's copy 0600 and never log it.
 */
export const SECRET_KEYS = { dbPassword: 'db-password', wpSalt: 'wp-salt' } as const;

export function renderPodmanSecret(values: Record<string, string>): string {
  const out: Record<string, string> = {};
  for (const k of Object.keys(values).sort()) out[k] = Buffer.from(values[k] as string, 'utf8').toString('base64');
  return JSON.stringify(out);
}

/** Fresh per-environment secrets: URL-safe, no quoting hazards in SQL or PHP. */
export function generateEnvironmentSecrets(): Record<string, string> {
  return {
    [SECRET_KEYS.dbPassword]: randomBytes(24).toString('base64url'),
    [SECRET_KEYS.wpSalt]: randomBytes(48).toString('base64url'),
  };
}

export function secretName(podName: string): string {
  return `${podName}-secrets`;
}
