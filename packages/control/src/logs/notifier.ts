import type { LogLine } from '@triplane/spec';

export type LogListener = (lines: readonly LogLine[]) => void;

/**
 * In-process fan-out of freshly stored lines to the open streams of their environment: the ingest
 * route publishes after its transaction commits, so a stream on the same replica shows a line at once.
 * Streams also poll the table (routes/logs/stream.ts): lines ingested by another replica arrive that way.
 *
 * Example:
 *   const off = notifier.subscribe(envId, (lines) => queue.push(...lines));
 *   notifier.publish(lines); …; off();
 */
export class LogNotifier {
  readonly #listeners = new Map<string, Set<LogListener>>();

  subscribe(environmentId: string, fn: LogListener): () => void {
    let set = this.#listeners.get(environmentId);
    if (!set) {
      set = new Set();
      this.#listeners.set(environmentId, set);
    }
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.#listeners.get(environmentId) === set) this.#listeners.delete(environmentId);
    };
  }

  /** Lines of any environments, in id order; each listener gets its environment's, in one call. */
  publish(lines: readonly LogLine[]): void {
    if (this.#listeners.size === 0) return;
    const byEnv = new Map<string, LogLine[]>();
    for (const l of lines) {
      if (!this.#listeners.has(l.environmentId)) continue;
      const a = byEnv.get(l.environmentId);
      if (a) a.push(l);
      else byEnv.set(l.environmentId, [l]);
    }
    for (const [env, ls] of byEnv) for (const fn of this.#listeners.get(env) ?? []) fn(ls);
  }

  get listeners(): number {
    let n = 0;
    for (const s of this.#listeners.values()) n += s.size;
    return n;
  }
}
