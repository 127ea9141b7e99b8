/**
 * Keyset pagination by id, shared by the identity lists: the query asks for `limit + 1`
 * rows with `id > cursor` ordered by id; `page` cuts the extra row and turns it into the
 * next cursor (the last id shown), or null on the last page.
 *
 * Example: page(rows, 100) → { items: rows.slice(0, 100), nextCursor: 'usr_…' | null }
 */
export const DEFAULT_PAGE_SIZE = 100;

export function page<T extends { id: string }>(rows: T[], limit: number): { items: T[]; nextCursor: string | null } {
  if (rows.length <= limit) return { items: rows, nextCursor: null };
  const items = rows.slice(0, limit);
  return { items, nextCursor: items[items.length - 1]?.id ?? null };
}
