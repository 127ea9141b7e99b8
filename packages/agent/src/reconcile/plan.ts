import type { ObservedEnvironment } from '@triplane/runtime/driver';
import type { AssignedEnvironment } from '@triplane/spec';
import type { ReconcileConfig } from './config.ts';
import { downContainers, type KeyHealth } from './health.ts';

/**
 * The decision of one reconcile step for one environment (pure): given what should run and
 * what runs, the single next action — or none. Level-based: the same inputs give the same
 * action, and a pass that did nothing changes nothing.
 *
 *   not in the assignment, present        → remove (with volumes when purgeOnRemove)
 *   terminal failure at this generation   → nothing (status `failed` until the generation moves)
 *   absent / other generation / no containers → apply (create | update | repair)
 *   desiredState stopped, something runs  → stop
 *   crash-looping and Podman keeps restarting a container → hold it (stop on purpose, start later)
 *   containers down (incl. `podman kill`) and not held → start them (repair backoff)
 *   health probe failing N times          → restart the app containers (repair backoff)
 *
 * Example:
 *   planAction({ desired: env, observed: undefined, health, terminal: null, now, cfg })
 *   // → { kind: 'apply', reason: 'create' }
 */
export type Action =
  | { kind: 'apply'; reason: 'create' | 'update' | 'repair' }
  | { kind: 'stop' }
  | { kind: 'remove'; purge: boolean }
  | { kind: 'start'; containers: string[] }
  | { kind: 'hold'; containers: string[] }
  | { kind: 'restart'; containers: string[]; reason: string };

export interface Terminal {
  generation: number;
  message: string;
}

export interface PlanInput {
  desired: AssignedEnvironment | undefined;
  observed: ObservedEnvironment | undefined;
  health: KeyHealth;
  terminal: Terminal | null;
  now: number;
  cfg: ReconcileConfig;
}

export function planAction(i: PlanInput): Action | null {
  const { desired, observed, health: h, now, cfg } = i;
  if (!desired) return observed ? { kind: 'remove', purge: cfg.purgeOnRemove } : null;
  if (i.terminal && i.terminal.generation === desired.generation) return null;
  if (!observed) return { kind: 'apply', reason: 'create' };
  if (observed.generation !== desired.generation) return { kind: 'apply', reason: 'update' };
  if (observed.containers.length === 0) return { kind: 'apply', reason: 'repair' };

  if (desired.desiredState === 'stopped') {
    const running = observed.containers.some((c) => c.state === 'running' || c.state === 'paused');
    return running ? { kind: 'stop' } : null;
  }

  if (h.crashLooping && h.policyRestarted.length > 0) {
    const hold = h.policyRestarted.filter((c) => !((h.held[c] ?? 0) > now));
    if (hold.length > 0) return { kind: 'hold', containers: hold };
  }
  const down = downContainers(h, observed, now);
  if (down.length > 0) return now >= h.repairNotBefore ? { kind: 'start', containers: down } : null;

  if (h.probeFailures >= cfg.probe.failuresBeforeRestart && now >= h.repairNotBefore) {
    const names = cfg.probe.restartContainers.filter((n) => observed.containers.some((c) => c.name === n));
    if (names.length > 0)
      return { kind: 'restart', containers: names, reason: `health probe failed ${h.probeFailures} times in a row` };
  }
  return null;
}
