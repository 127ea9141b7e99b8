import { type Logger, silentLogger } from '@triplane/kernel';
import type { PassResult, Reconciler } from './engine.ts';

/**
 * Drives a Reconciler in real time: a pass every `intervalMs` (default 2 s), sooner when a
 * backoff or hold expires, and at once on `wake()` (a new assignment). The only part of the
 * reconcile loop that owns timers.
 *
 * Example:
 *   const runner = new ReconcileRunner({ reconciler, onPass: () => link.reportSoon() });
 *   runner.start(); …; runner.wake(); …; await runner.stop();
 */
export interface RunnerOptions {
  reconciler: Reconciler;
  intervalMs?: number;
  logger?: Logger;
  onPass?: (r: PassResult) => void;
}

export class ReconcileRunner {
  readonly #r: Reconciler;
  readonly #interval: number;
  readonly #log: Logger;
  readonly #onPass: ((r: PassResult) => void) | undefined;
  #stopped = true;
  #timer: NodeJS.Timeout | undefined;
  #wakeUp: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #pending = false;

  constructor(o: RunnerOptions) {
    this.#r = o.reconciler;
    this.#interval = o.intervalMs ?? 2000;
    this.#log = o.logger ?? silentLogger();
    this.#onPass = o.onPass;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#loop = this.#run();
  }

  /** Run a pass as soon as possible (the current one finishes first). */
  wake(): void {
    this.#pending = true;
    this.#wakeUp?.();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wakeUp?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      this.#pending = false;
      try {
        const r = await this.#r.pass();
        this.#onPass?.(r);
      } catch (e) {
        this.#log.error({ err: e instanceof Error ? e.message : String(e) }, 'reconcile pass crashed');
      }
      if (this.#stopped || this.#pending) continue;
      const wakeAt = this.#r.nextWakeAt();
      const delay = Math.max(10, Math.min(this.#interval, wakeAt === null ? this.#interval : wakeAt - Date.now() + 5));
      await new Promise<void>((resolve) => {
        this.#wakeUp = resolve;
        this.#timer = setTimeout(resolve, delay);
      });
      clearTimeout(this.#timer);
      this.#wakeUp = undefined;
    }
  }
}
