import type { ObservedEnvironment } from '@triplane/runtime/driver';
import type { AssignedEnvironment, EnvironmentStatus } from '@triplane/spec';
import type { ReconcileConfig } from './config.ts';
import { downContainers, type KeyHealth, restartsInWindow } from './health.ts';
import type { Terminal } from './plan.ts';

/**
 * The status an environment is reported with (pure), from the same inputs as planAction:
 *
 *   pending        not created yet, or being (re)applied to a new generation, or stopping
 *   running        every container running, health probe fine (or not failing enough yet)
 *   degraded       a container is down (being restarted) or the health probe keeps failing
 *   crash-looping  ≥ N restarts within the window; started again with backoff
 *   stopped        desiredState stopped and nothing runs
 *   failed         a terminal error for this generation (e.g. an invalid pod spec)
 *   deleting       present here but no longer assigned (being removed)
 * `undefined`: nothing to report (neither assigned nor present).
 */
export interface DerivedStatus {
  status: EnvironmentStatus;
  message: string | null;
}

export interface StatusInput {
  desired: AssignedEnvironment | undefined;
  observed: ObservedEnvironment | undefined;
  health: KeyHealth;
  terminal: Terminal | null;
  lastError: string | null;
  retryAt: number;
  now: number;
  cfg: ReconcileConfig;
}

function inSeconds(at: number, now: number): string {
  return `${Math.max(0, Math.ceil((at - now) / 1000))} s`;
}

export function deriveStatus(i: StatusInput): DerivedStatus | undefined {
  const { desired, observed, health: h, now, cfg } = i;
  const retry = i.lastError ? `: ${i.lastError}; retrying in ${inSeconds(i.retryAt, now)}` : '';
  if (!desired) return observed ? { status: 'deleting', message: `not assigned to this server: removing${retry}` } : undefined;
  if (i.terminal && i.terminal.generation === desired.generation) return { status: 'failed', message: i.terminal.message };
  if (!observed) return { status: 'pending', message: i.lastError ? `create failed${retry}` : 'creating' };
  if (observed.generation !== desired.generation) {
    return { status: 'pending', message: `applying generation ${desired.generation}${i.lastError ? ` failed${retry}` : ''}` };
  }
  if (observed.containers.length === 0) {
    return { status: 'pending', message: `the pod has no containers: recreating${i.lastError ? ` failed${retry}` : ''}` };
  }
  if (desired.desiredState === 'stopped') {
    const running = observed.containers.filter((c) => c.state === 'running' || c.state === 'paused');
    return running.length === 0
      ? { status: 'stopped', message: null }
      : { status: 'pending', message: `stopping${i.lastError ? ` failed${retry}` : ''}` };
  }
  if (h.crashLooping) {
    const held = Object.entries(h.held).filter(([, until]) => until > now);
    const names = [
      ...new Set([...held.map(([c]) => c), ...observed.containers.filter((c) => c.state !== 'running').map((c) => c.name)]),
    ];
    const next = held.length > 0 ? `; next start in ${inSeconds(Math.min(...held.map(([, t]) => t)), now)}` : '';
    return {
      status: 'crash-looping',
      message: `${names.length ? names.join(', ') : 'containers'} restarted ${restartsInWindow(h, now, cfg)} times in ${Math.round(cfg.crashLoop.windowMs / 1000)} s${next}`,
    };
  }
  const down = observed.containers.filter((c) => c.state !== 'running');
  if (down.length > 0) {
    const waiting = downContainers(h, observed, now).length > 0 && now < h.repairNotBefore;
    return {
      status: 'degraded',
      message: `${down.map((c) => `${c.name} ${c.state}`).join(', ')}: ${waiting ? `restarting in ${inSeconds(h.repairNotBefore, now)}` : 'restarting'}${retry}`,
    };
  }
  if (h.probeFailures >= cfg.probe.failuresBeforeDegraded) {
    const p = h.lastProbe;
    const what = p?.status !== undefined ? `HTTP ${p.status}` : (p?.error ?? 'no answer');
    return { status: 'degraded', message: `health probe failing (${h.probeFailures} in a row): ${what}` };
  }
  return { status: 'running', message: null };
}
