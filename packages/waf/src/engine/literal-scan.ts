export const NONE: readonly number[] = Object.freeze([]);

/**
 * Multi-literal scanner reporting every literal present: an Aho-Corasick automaton compiled
 * to a DFA over a compressed alphabet (bytes that occur in no literal share one class), held
 * in typed arrays so a scan is one table lookup per input byte. Input and literals are
 * lower-cased by the caller; comparison is exact.
 */
export class LiteralScanner {
  private readonly classOf = new Uint8Array(256);
  private readonly classes: number;
  /** transitions; 16-bit when the automaton has < 65 536 states (half the memory and cache) */
  private readonly delta: Int32Array | Uint16Array;
  /** first literal index ending at a state via its dictionary chain, -1 when none */
  private readonly hasOut: Uint8Array;
  private readonly out: number[][];
  private readonly dict: Int32Array;
  /** scratch for found(): literals already reported in the current scan (all 0 between scans) */
  private readonly seen: Uint8Array;

  constructor(literals: readonly string[]) {
    let nc = 1;
    for (const w of literals)
      for (let i = 0; i < w.length; i++) {
        const c = w.charCodeAt(i) & 0xff;
        if (this.classOf[c] === 0) this.classOf[c] = nc++;
      }
    this.classes = nc;
    // trie
    const next: Array<Map<number, number>> = [new Map()];
    const out: number[][] = [[]];
    literals.forEach((w, idx) => {
      if (w === '') return;
      let s = 0;
      for (let i = 0; i < w.length; i++) {
        const c = this.classOf[w.charCodeAt(i) & 0xff]!;
        let t = next[s]!.get(c);
        if (t === undefined) {
          t = next.length;
          next.push(new Map());
          out.push([]);
          next[s]!.set(c, t);
        }
        s = t;
      }
      out[s]!.push(idx);
    });
    const n = next.length;
    const delta = n < 0x10000 ? new Uint16Array(n * nc) : new Int32Array(n * nc);
    const fail = new Int32Array(n);
    const dict = new Int32Array(n).fill(-1);
    const queue: number[] = [];
    for (const [c, t] of next[0]!) {
      delta[c] = t;
      queue.push(t);
    }
    for (let qi = 0; qi < queue.length; qi++) {
      const s = queue[qi]!;
      const f = fail[s]!;
      for (let c = 0; c < nc; c++) {
        const t = next[s]!.get(c);
        if (t === undefined) {
          delta[s * nc + c] = delta[f * nc + c]!;
          continue;
        }
        delta[s * nc + c] = t;
        const ft = delta[f * nc + c]!;
        fail[t] = ft;
        dict[t] = out[ft]!.length > 0 ? ft : dict[ft]!;
        queue.push(t);
      }
    }
    const hasOut = new Uint8Array(n);
    for (let s = 0; s < n; s++) hasOut[s] = out[s]!.length > 0 || dict[s]! >= 0 ? 1 : 0;
    this.delta = delta;
    this.hasOut = hasOut;
    this.out = out;
    this.dict = dict;
    this.seen = new Uint8Array(literals.length);
  }

  /** The distinct literals occurring in text (indexes); NONE when there are none. */
  found(text: string): readonly number[] {
    const { classOf, classes, delta, hasOut, out, dict, seen } = this;
    let s = 0;
    let ids: number[] | undefined;
    for (let i = 0; i < text.length; i++) {
      s = delta[s * classes + classOf[text.charCodeAt(i) & 0xff]!]!;
      if (hasOut[s] === 0) continue;
      ids ??= [];
      for (let d = out[s]!.length > 0 ? s : dict[s]!; d >= 0; d = dict[d]!)
        for (const w of out[d]!)
          if (seen[w] === 0) {
            seen[w] = 1;
            ids.push(w);
          }
    }
    if (ids === undefined) return NONE;
    for (const w of ids) seen[w] = 0;
    return ids;
  }

  /** Sets found[offset + i] = 1 for every literal i occurring in text. */
  scan(text: string, found: Uint8Array, offset = 0): void {
    const { classOf, classes, delta, hasOut, out, dict } = this;
    let s = 0;
    for (let i = 0; i < text.length; i++) {
      s = delta[s * classes + classOf[text.charCodeAt(i) & 0xff]!]!;
      if (hasOut[s] === 0) continue;
      for (let d = out[s]!.length > 0 ? s : dict[s]!; d >= 0; d = dict[d]!) for (const w of out[d]!) found[offset + w] = 1;
    }
  }
}
