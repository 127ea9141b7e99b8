/**
 * Verdicts of a pure, costly operator on short values, remembered across transactions: the
 * same header values, argument names and common argument values reach @detectSQLi/@detectXSS
 * request after request, and each call into libinjection costs ~0.4 µs. Bounded: values of at
 * most MAX_VALUE bytes, at most MAX entries, all dropped at once when full.
 */
const MAX = 4096;
const MAX_VALUE = 256;

export class VerdictMemo<V> {
  private readonly map = new Map<string, V>();

  /** The remembered verdict, or undefined (then compute it and `set` it). */
  get(input: string): V | undefined {
    return input.length > MAX_VALUE ? undefined : this.map.get(input);
  }

  set(input: string, v: V): void {
    if (input.length > MAX_VALUE) return;
    if (this.map.size >= MAX) this.map.clear();
    this.map.set(input, v);
  }
}
