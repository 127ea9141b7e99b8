import { type Clock, type Logger, silentLogger, systemClock } from '@triplane/kernel';
import type { ObservedEnvironment, ProbeResult, RuntimeDriver } from '@triplane/runtime/driver';
import type { AssignedEnvironment, StatusReportRequest } from '@triplane/spec';
import { type ReconcileConfig, withDefaults } from './config.ts';
import { afterApply, type KeyHealth, newHealth, observeHealth, probeDue, recordHold, recordRepair } from './health.ts';
import { type Action, planAction, type Terminal } from './plan.ts';
import { deriveStatus } from './status.ts';
import { BackoffQueue } from './work-queue.ts';

/**
 * The reconcile engine: one `pass()` observes the host through the driver, probes running
 * environments, folds that into each environment's health, plans one action per environment
 * (./plan.ts) and runs the actions — different environments in parallel (up to
 * `concurrency`), one action at a time per environment. Keyed by environment id,
 * level-based, idempotent; a failing key backs off exponentially without holding up the
 * others; a terminal error (invalid spec) parks the key in `failed` until its generation
 * changes. No sockets, no timers: the runner (./runner.ts) calls `pass()` on a schedule and
 * tests call it by hand with a FakeDriver and a FakeClock.
 *
 * Until the first desired state arrives (`setDesired`), nothing is created or removed: an
 * agent that starts without its assignment must not delete the sites it runs.
 *
 * Example:
 *   const r = new Reconciler({ driver: new FakeDriver(), clock });
 *   r.setDesired(assignment.environments);
 *   await r.pass();            // creates the pods
 *   r.report();                // [{ id, status: 'pending', … }] → next pass: 'running'
 */
export type EnvironmentReport = StatusReportRequest['environments'][number];

export interface ActionOutcome {
  envId: string;
  action: Action;
  ok: boolean;
  error?: string;
}

export interface PassResult {
  actions: ActionOutcome[];
  /** Set when the driver could not list the host (nothing was done). */
  error?: string;
}

export interface ReconcilerOptions {
  driver: RuntimeDriver;
  clock?: Clock;
  logger?: Logger;
  config?: Partial<ReconcileConfig>;
  /** Jitter source for the backoff (tests pass a constant). */
  random?: () => number;
}

/** Codes that retrying cannot fix: wait for a new generation. */
const TERMINAL_CODES = new Set(['TRIPLANE_ERR_POD_SPEC_INVALID', 'TRIPLANE_ERR_VALIDATION']);

function errorInfo(e: unknown): { message: string; terminal: boolean } {
  const message = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: unknown } | null)?.code;
  const details = (e as { details?: { retryable?: unknown } } | null)?.details;
  const terminal = (typeof code === 'string' && TERMINAL_CODES.has(code)) || details?.retryable === false;
  return { message: message.length > 500 ? `${message.slice(0, 497)}...` : message, terminal };
}

function describe(a: Action): string {
  switch (a.kind) {
    case 'apply':
      return `apply (${a.reason})`;
    case 'remove':
      return a.purge ? 'remove with volumes' : 'remove';
    case 'start':
    case 'hold':
      return `${a.kind} ${a.containers.join(',')}`;
    case 'restart':
      return `restart ${a.containers.join(',')} (${a.reason})`;
    default:
      return a.kind;
  }
}

export class Reconciler {
  readonly config: ReconcileConfig;
  readonly #driver: RuntimeDriver;
  readonly #clock: Clock;
  readonly #log: Logger;
  #desired: Map<string, AssignedEnvironment> | null = null;
  #observed = new Map<string, ObservedEnvironment>();
  #observedOnce = false;
  #health = new Map<string, KeyHealth>();
  #terminal = new Map<string, Terminal>();
  #errors = new Map<string, string>();
  readonly #failures: BackoffQueue;
  #running = false;

  constructor(o: ReconcilerOptions) {
    this.#driver = o.driver;
    this.#clock = o.clock ?? systemClock;
    this.#log = o.logger ?? silentLogger();
    this.config = withDefaults(o.config, o.random);
    this.#failures = new BackoffQueue(this.#clock, this.config.actionBackoff);
  }

  /** The environments this server must run (null: not known yet). A new generation clears its backoff. */
  setDesired(envs: readonly AssignedEnvironment[] | null): void {
    if (envs === null) {
      this.#desired = null;
      return;
    }
    const next = new Map(envs.map((e) => [e.id, e]));
    for (const [id, e] of next) {
      const before = this.#desired?.get(id);
      if (before && before.generation !== e.generation) {
        this.#failures.success(id);
        this.#errors.delete(id);
      }
      const t = this.#terminal.get(id);
      if (t && t.generation !== e.generation) this.#terminal.delete(id);
    }
    this.#desired = next;
  }

  hasDesired(): boolean {
    return this.#desired !== null;
  }

  /** One reconcile pass. Never throws; a call while a pass runs returns at once, doing nothing. */
  async pass(): Promise<PassResult> {
    if (this.#running) return { actions: [] };
    this.#running = true;
    try {
      return await this.#pass();
    } finally {
      this.#running = false;
    }
  }

  async #pass(): Promise<PassResult> {
    let list: ObservedEnvironment[];
    try {
      list = await this.#driver.list();
    } catch (e) {
      const { message } = errorInfo(e);
      this.#log.warn({ err: message }, 'cannot list the environments on this host');
      return { actions: [], error: message };
    }
    this.#observed = new Map(list.map((o) => [o.id, o]));
    this.#observedOnce = true;
    const now = this.#clock.now();

    // Probe what should be serving and looks like it is.
    const probes = new Map<string, ProbeResult>();
    const toProbe = list.filter((o) => {
      const d = this.#desired?.get(o.id);
      return (
        d !== undefined &&
        d.desiredState === 'running' &&
        d.generation === o.generation &&
        o.containers.length > 0 &&
        o.containers.every((c) => c.state === 'running') &&
        probeDue(this.#healthOf(o.id), now, this.config)
      );
    });
    await this.#pool(toProbe, async (o) => {
      try {
        probes.set(o.id, await this.#driver.probe(o.id));
      } catch (e) {
        probes.set(o.id, { ok: false, latencyMs: 0, error: errorInfo(e).message });
      }
    });
    for (const o of list) {
      this.#health.set(o.id, observeHealth(this.#healthOf(o.id), o, probes.get(o.id) ?? null, now, this.config));
    }
    for (const id of [...this.#health.keys()])
      if (!this.#observed.has(id) && !this.#desired?.has(id)) {
        this.#health.delete(id);
        this.#errors.delete(id);
        this.#failures.success(id);
      }

    if (this.#desired === null) return { actions: [] };

    const work: { id: string; action: Action }[] = [];
    for (const id of this.#keys()) {
      if (!this.#failures.ready(id)) continue;
      const action = planAction({
        desired: this.#desired.get(id),
        observed: this.#observed.get(id),
        health: this.#healthOf(id),
        terminal: this.#terminal.get(id) ?? null,
        now,
        cfg: this.config,
      });
      if (action) work.push({ id, action });
    }
    const outcomes: ActionOutcome[] = [];
    await this.#pool(work, async ({ id, action }) => {
      outcomes.push(await this.#run(id, action));
    });
    return { actions: outcomes.sort((a, b) => (a.envId < b.envId ? -1 : a.envId > b.envId ? 1 : 0)) };
  }

  async #run(id: string, action: Action): Promise<ActionOutcome> {
    const d = this.#driver;
    const desired = this.#desired?.get(id);
    this.#log.info({ environmentId: id, action: describe(action), generation: desired?.generation }, 'reconcile');
    try {
      switch (action.kind) {
        case 'apply':
          await d.apply(desired as AssignedEnvironment);
          this.#health.set(id, afterApply(this.#healthOf(id), this.#clock.now(), this.config));
          break;
        case 'stop':
          await d.stop(id);
          break;
        case 'remove':
          await d.remove(id, { purge: action.purge });
          this.#observed.delete(id);
          this.#health.delete(id);
          break;
        case 'start':
        case 'restart':
          // Counted before the calls: a repair that fails still consumes the repair backoff.
          this.#health.set(id, recordRepair(this.#healthOf(id), action.containers, this.#clock.now(), this.config));
          for (const c of action.containers) {
            if (action.kind === 'start') await d.startContainer(id, c);
            else await d.restartContainer(id, c);
          }
          break;
        case 'hold':
          for (const c of action.containers) await d.stopContainer(id, c);
          this.#health.set(id, recordHold(this.#healthOf(id), action.containers, this.#clock.now(), this.config));
          break;
      }
      this.#failures.success(id);
      this.#errors.delete(id);
      return { envId: id, action, ok: true };
    } catch (e) {
      const info = errorInfo(e);
      if (info.terminal && desired && action.kind === 'apply') {
        this.#terminal.set(id, { generation: desired.generation, message: info.message });
        this.#errors.delete(id);
        this.#log.error({ environmentId: id, err: info.message }, 'terminal error: waiting for a new generation');
      } else {
        const delay = this.#failures.failure(id);
        this.#errors.set(id, info.message);
        this.#log.warn({ environmentId: id, action: describe(action), err: info.message, retryInMs: delay }, 'reconcile failed');
      }
      return { envId: id, action, ok: false, error: info.message };
    }
  }

  /**
   * What to tell the control plane: EVERY environment assigned or present here (a missing one
   * means "gone from this server"). Null until both a desired state and an observation exist.
   */
  report(): EnvironmentReport[] | null {
    if (this.#desired === null || !this.#observedOnce) return null;
    const now = this.#clock.now();
    const out: EnvironmentReport[] = [];
    for (const id of this.#keys()) {
      const observed = this.#observed.get(id);
      const s = deriveStatus({
        desired: this.#desired.get(id),
        observed,
        health: this.#healthOf(id),
        terminal: this.#terminal.get(id) ?? null,
        lastError: this.#errors.get(id) ?? null,
        retryAt: this.#failures.notBefore(id),
        now,
        cfg: this.config,
      });
      if (!s) continue;
      const r: EnvironmentReport = { id, status: s.status };
      if (s.message) r.message = s.message.slice(0, 1000);
      if (observed?.generation !== undefined && observed.generation !== null) r.generation = observed.generation;
      if (observed)
        r.containers = observed.containers.slice(0, 50).map((c) => ({
          name: c.name,
          state: c.state,
          restarts: Math.max(0, Math.floor(c.restarts)),
          cpuPercent: Math.max(0, c.cpuPercent),
          memoryBytes: Math.max(0, Math.floor(c.memoryBytes)),
        }));
      out.push(r);
    }
    return out;
  }

  /** The earliest moment a backoff or hold expires (epoch ms), for the runner's sleep; null: none. */
  nextWakeAt(): number | null {
    const now = this.#clock.now();
    const times: number[] = [];
    const f = this.#failures.nextDue();
    if (f !== null) times.push(f);
    for (const h of this.#health.values()) {
      if (h.repairNotBefore > now) times.push(h.repairNotBefore);
      for (const t of Object.values(h.held)) if (t > now) times.push(t);
    }
    return times.length ? Math.min(...times) : null;
  }

  /** Health of one environment (tests and diagnostics). */
  health(id: string): KeyHealth | undefined {
    return this.#health.get(id);
  }

  #healthOf(id: string): KeyHealth {
    return this.#health.get(id) ?? newHealth();
  }

  #keys(): string[] {
    return [...new Set([...(this.#desired?.keys() ?? []), ...this.#observed.keys()])].sort();
  }

  async #pool<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
    let i = 0;
    const worker = async () => {
      while (i < items.length) await fn(items[i++] as T);
    };
    await Promise.all(Array.from({ length: Math.min(this.config.concurrency, items.length) }, worker));
  }
}
