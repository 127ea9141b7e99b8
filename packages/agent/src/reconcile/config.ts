import type { BackoffOptions } from '@triplane/kernel';

/**
 * Tunables of the reconcile engine, with the reasoning behind each default.
 *
 * - actionBackoff: a failing apply/stop/remove is retried 1 s, 2 s, 4 s … up to 5 min: fast
 *   enough for a transient podman error, slow enough not to hammer a broken host.
 * - startBackoff: starting a container that went down (e.g. `podman kill`, which Podman's
 *   restart policy ignores) happens at once the first time — the target is "healthy
 *   again within 15 s" — then 1 s, 2 s, 4 s … when it keeps going down, capped at 5 min.
 * - crashLoop: ≥ 5 restarts (the restart policy's and ours) within 2 min = crash-looping.
 *   Podman restarts a dying container with NO backoff (189 restarts in 37 s measured), so a
 *   crash-looping container is stopped on purpose ("held") for holdBackoff (10 s, 20 s … 5 min)
 *   and started again after: it keeps being tried, at a bounded rate.
 * - stableMs: an environment whose containers all ran for 60 s with no restart forgets its
 *   backoff and its crash-loop state.
 * - probe: an HTTP answer < 500 is healthy, probed every 10 s (a WordPress page costs ~30 ms of
 *   CPU; every pass would be wasteful) and every pass while failing; failures in the 30 s after
 *   an apply do not count (MariaDB initialising a fresh datadir). 3 failures in a row →
 *   degraded; 6 → the app containers (php, web) are restarted (with startBackoff between repairs).
 * - purgeOnRemove: an environment that left the assignment is removed WITH its volumes: the
 *   control plane only drops an environment from an assignment when it is deleted (moves are
 *   not implemented), and "deleted → nothing of it left" is the promise.
 */
export interface ReconcileConfig {
  actionBackoff: BackoffOptions;
  startBackoff: BackoffOptions;
  holdBackoff: BackoffOptions;
  crashLoop: { restarts: number; windowMs: number };
  stableMs: number;
  probe: {
    intervalMs: number;
    graceMs: number;
    failuresBeforeDegraded: number;
    failuresBeforeRestart: number;
    restartContainers: string[];
  };
  purgeOnRemove: boolean;
  /** Environments worked on in parallel within one pass. */
  concurrency: number;
}

export const DEFAULT_RECONCILE_CONFIG: ReconcileConfig = {
  actionBackoff: { baseMs: 1000, capMs: 300_000 },
  startBackoff: { baseMs: 1000, capMs: 300_000 },
  holdBackoff: { baseMs: 10_000, capMs: 300_000 },
  crashLoop: { restarts: 5, windowMs: 120_000 },
  stableMs: 60_000,
  probe: {
    intervalMs: 10_000,
    graceMs: 30_000,
    failuresBeforeDegraded: 3,
    failuresBeforeRestart: 6,
    restartContainers: ['php', 'web'],
  },
  purgeOnRemove: true,
  concurrency: 4,
};

export function withDefaults(partial: Partial<ReconcileConfig> = {}, random?: () => number): ReconcileConfig {
  const c = { ...DEFAULT_RECONCILE_CONFIG, ...partial };
  if (!random) return c;
  return {
    ...c,
    actionBackoff: { ...c.actionBackoff, random },
    startBackoff: { ...c.startBackoff, random },
    holdBackoff: { ...c.holdBackoff, random },
  };
}
