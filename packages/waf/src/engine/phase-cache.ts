/**
 * A per-transaction array cache emptied at every phase (Transaction.clearTargetCaches). It
 * remembers which slots were set, so emptying it costs the slots used, not the rule set's size
 * (most phases use few of the hundreds of slots).
 */
export class PhaseCache<T> {
  private readonly slots: Array<T | undefined>;
  private readonly used: number[] = [];

  constructor(size: number) {
    this.slots = new Array<T | undefined>(size).fill(undefined);
  }

  get(i: number): T | undefined {
    return this.slots[i];
  }

  set(i: number, v: T): void {
    if (this.slots[i] === undefined) this.used.push(i);
    this.slots[i] = v;
  }

  clear(): void {
    const used = this.used;
    for (let i = 0; i < used.length; i++) this.slots[used[i]!] = undefined;
    used.length = 0;
  }
}
