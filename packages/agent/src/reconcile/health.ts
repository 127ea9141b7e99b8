import { backoffDelay } from '@triplane/kernel';
import type { ObservedEnvironment, ProbeResult } from '@triplane/runtime/driver';
import { isDown } from '@triplane/runtime/driver';
import type { ReconcileConfig } from './config.ts';

/**
 * What the healer remembers about one environment between passes (pure data + pure updates).
 *
 * Restart accounting: every restart counts — the ones Podman's restart policy did (seen as a
 * rising `restarts` counter between two observations, e.g. after `kill -9`) and the starts the
 * agent did itself (e.g. after `podman kill`). ≥ N within the window → crash-looping; the flag
 * stays until the environment has been stable (all running, no restart, probe fine) for
 * `stableMs`, which also forgets every backoff.
 *
 *   healthy ──restart×N in window──► crash-looping ──stable for stableMs──► healthy
 *      ▲                                  │  policy restarts seen → hold (stop on purpose)
 *      └──────── stable ◄── start after hold delay (10 s, 20 s … 5 min) ◄──┘
 */
export interface KeyHealth {
  /** container → restart counter at the last observation */
  lastRestarts: Record<string, number>;
  /** epoch ms of restart events inside the crash-loop window */
  restartEvents: number[];
  crashLooping: boolean;
  /** containers whose restart counter rose in the latest observation */
  policyRestarted: string[];
  /** container → epoch ms until which it is kept stopped on purpose (crash-loop backoff) */
  held: Record<string, number>;
  holdCycles: number;
  /** consecutive repairs (starts/restarts) since the last stable period, and when the next may run */
  repairStreak: number;
  repairNotBefore: number;
  probeFailures: number;
  lastProbe: ProbeResult | null;
  lastProbeAt: number | null;
  /** probe failures before this moment (just after an apply) do not count */
  probeGraceUntil: number;
  stableSince: number | null;
}

export function newHealth(): KeyHealth {
  return {
    lastRestarts: {},
    restartEvents: [],
    crashLooping: false,
    policyRestarted: [],
    held: {},
    holdCycles: 0,
    repairStreak: 0,
    repairNotBefore: 0,
    probeFailures: 0,
    lastProbe: null,
    lastProbeAt: null,
    probeGraceUntil: 0,
    stableSince: null,
  };
}

/** Fold one observation (and the probe made with it, if any) into the health state. */
export function observeHealth(
  h: KeyHealth,
  obs: ObservedEnvironment,
  probe: ProbeResult | null,
  now: number,
  cfg: ReconcileConfig,
): KeyHealth {
  const next: KeyHealth = { ...h, lastRestarts: {}, held: { ...h.held }, policyRestarted: [] };
  const events = h.restartEvents.filter((t) => now - t < cfg.crashLoop.windowMs);
  for (const c of obs.containers) {
    const before = h.lastRestarts[c.name];
    if (before !== undefined && c.restarts > before) {
      for (let i = 0; i < Math.min(c.restarts - before, 1000); i++) events.push(now);
      next.policyRestarted.push(c.name);
    }
    next.lastRestarts[c.name] = c.restarts;
  }
  next.restartEvents = events;
  if (probe) {
    next.lastProbe = probe;
    next.lastProbeAt = now;
    next.probeFailures = probe.ok || now < h.probeGraceUntil ? 0 : h.probeFailures + 1;
  }
  if (events.length >= cfg.crashLoop.restarts) next.crashLooping = true;

  const allRunning = obs.containers.length > 0 && obs.containers.every((c) => c.state === 'running');
  const stableNow = allRunning && next.policyRestarted.length === 0 && next.probeFailures === 0;
  next.stableSince = stableNow ? (h.stableSince ?? now) : null;
  if (next.stableSince !== null && now - next.stableSince >= cfg.stableMs) {
    next.crashLooping = false;
    next.holdCycles = 0;
    next.repairStreak = 0;
    next.repairNotBefore = 0;
    next.restartEvents = [];
    next.held = {};
  }
  return next;
}

/** The agent started/restarted these containers: restart events, and the repair backoff grows. */
export function recordRepair(h: KeyHealth, containers: readonly string[], now: number, cfg: ReconcileConfig): KeyHealth {
  const held = { ...h.held };
  for (const c of containers) delete held[c];
  const streak = h.repairStreak + 1;
  const events = [...h.restartEvents, ...containers.map(() => now)];
  return {
    ...h,
    held,
    restartEvents: events,
    crashLooping: h.crashLooping || events.length >= cfg.crashLoop.restarts,
    repairStreak: streak,
    repairNotBefore: now + backoffDelay(streak, cfg.startBackoff),
    stableSince: null,
  };
}

/** Crash-looping containers were stopped on purpose; they are started again after the hold. */
export function recordHold(h: KeyHealth, containers: readonly string[], now: number, cfg: ReconcileConfig): KeyHealth {
  const cycles = h.holdCycles + 1;
  const until = now + backoffDelay(cycles, cfg.holdBackoff);
  const held = { ...h.held };
  for (const c of containers) held[c] = until;
  return { ...h, held, holdCycles: cycles, policyRestarted: [], stableSince: null };
}

/** A new pod (apply): restart counters start over. */
export function afterApply(h: KeyHealth, now: number, cfg: ReconcileConfig): KeyHealth {
  return {
    ...h,
    lastRestarts: {},
    held: {},
    policyRestarted: [],
    probeFailures: 0,
    lastProbe: null,
    lastProbeAt: null,
    probeGraceUntil: now + cfg.probe.graceMs,
    stableSince: null,
  };
}

/** Containers of `obs` that are down and not held past `now`. */
export function downContainers(h: KeyHealth, obs: ObservedEnvironment, now: number): string[] {
  return obs.containers.filter((c) => isDown(c) && !((h.held[c.name] ?? 0) > now)).map((c) => c.name);
}

/** Crash-loop count in the window (for messages). */
export function restartsInWindow(h: KeyHealth, now: number, cfg: ReconcileConfig): number {
  return h.restartEvents.filter((t) => now - t < cfg.crashLoop.windowMs).length;
}

/** Probe now? Every `intervalMs`, and on every pass while the probe is failing. */
export function probeDue(h: KeyHealth, now: number, cfg: ReconcileConfig): boolean {
  return h.lastProbeAt === null || h.probeFailures > 0 || now - h.lastProbeAt >= cfg.probe.intervalMs;
}
