import { type HeaderMap, joined } from './headers.ts';

/**
 * Tags (surrogate keys) of a response, from every tag header the spec lists (§3.5):
 * `X-Magento-Tags` (comma), `Surrogate-Key` (space), `Cache-Tag` (comma and space), `xkey`.
 * Returns `tagged: true` when any tag header was present, even empty (Magento's `.*` purge
 * matches objects whose X-Magento-Tags is present but empty, check 6.6.58).
 */
export function extractTags(h: HeaderMap): { tags: string[]; tagged: boolean; magentoTags: string | undefined } {
  const tags = new Set<string>();
  let tagged = false;
  const magento = joined(h['x-magento-tags']);
  if (magento !== undefined) {
    tagged = true;
    for (const t of magento.split(',')) if (t.trim()) tags.add(t.trim());
  }
  for (const name of ['surrogate-key', 'cache-tag', 'xkey']) {
    const v = joined(h[name]);
    if (v === undefined) continue;
    tagged = true;
    for (const t of v.split(/[\s,]+/)) if (t) tags.add(name === 'cache-tag' ? t.toLowerCase() : t);
  }
  return { tags: [...tags], tagged, magentoTags: magento };
}

/** Index tag → members, with removal. Members are compared by identity. */
export class TagIndex<T> {
  readonly #byTag = new Map<string, Set<T>>();

  add(member: T, tags: readonly string[]): void {
    for (const t of tags) {
      let s = this.#byTag.get(t);
      if (!s) {
        s = new Set();
        this.#byTag.set(t, s);
      }
      s.add(member);
    }
  }

  remove(member: T, tags: readonly string[]): void {
    for (const t of tags) {
      const s = this.#byTag.get(t);
      if (!s) continue;
      s.delete(member);
      if (s.size === 0) this.#byTag.delete(t);
    }
  }

  members(tag: string): T[] {
    return [...(this.#byTag.get(tag) ?? [])];
  }

  get size(): number {
    return this.#byTag.size;
  }
}
