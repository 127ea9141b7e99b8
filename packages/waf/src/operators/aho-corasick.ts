/**
 * Aho-Corasick over latin1 strings, case-insensitive (ASCII), as ModSecurity's @pm is.
 * Built once per rule; `search` returns the first match found (ModSecurity reports one).
 */
export class AhoCorasick {
  private readonly next: Array<Map<number, number>> = [new Map()];
  private readonly fail: number[] = [0];
  private readonly out: Array<string | undefined> = [undefined];

  constructor(words: readonly string[]) {
    for (const w of words) {
      if (w === '') continue;
      let s = 0;
      for (let i = 0; i < w.length; i++) {
        const c = lower(w.charCodeAt(i));
        let t = this.next[s]!.get(c);
        if (t === undefined) {
          t = this.next.length;
          this.next.push(new Map());
          this.fail.push(0);
          this.out.push(undefined);
          this.next[s]!.set(c, t);
        }
        s = t;
      }
      this.out[s] ??= w;
    }
    const queue: number[] = [];
    for (const t of this.next[0]!.values()) queue.push(t);
    for (let qi = 0; qi < queue.length; qi++) {
      const s = queue[qi]!;
      for (const [c, t] of this.next[s]!) {
        let f = this.fail[s]!;
        while (f !== 0 && !this.next[f]!.has(c)) f = this.fail[f]!;
        const ft = this.next[f]!.get(c);
        this.fail[t] = ft !== undefined && ft !== t ? ft : 0;
        this.out[t] ??= this.out[this.fail[t]!];
        queue.push(t);
      }
    }
  }

  search(text: string): string | undefined {
    let s = 0;
    for (let i = 0; i < text.length; i++) {
      const c = lower(text.charCodeAt(i));
      let t = this.next[s]!.get(c);
      while (t === undefined && s !== 0) {
        s = this.fail[s]!;
        t = this.next[s]!.get(c);
      }
      s = t ?? 0;
      const o = this.out[s];
      if (o !== undefined) return o;
    }
    return undefined;
  }
}

function lower(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}
