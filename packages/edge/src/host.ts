/**
 * Host normalisation (spec §1.1, check 6.5.49): lower-case, port and trailing dot removed.
 * Returns undefined for anything that is not a syntactically valid host (→ 400).
 */
export function normaliseHost(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  let h = raw.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return undefined;
    const rest = h.slice(end + 1);
    if (rest && !/^:\d{1,5}$/.test(rest)) return undefined;
    return h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  if (colon >= 0) {
    if (!/^\d{1,5}$/.test(h.slice(colon + 1))) return undefined;
    h = h.slice(0, colon);
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (!h || h.length > 253 || !/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/.test(h))
    return undefined;
  return h;
}

/**
 * The request target (RFC 9112 §3.2): origin-form `/p?q`, or absolute-form `http://h/p?q`
 * whose authority replaces Host (check 6.5.50). Returns undefined for anything else (400).
 */
export function parseTarget(target: string): { path: string; authority: string | undefined } | undefined {
  if (target.startsWith('/')) return { path: target, authority: undefined };
  const m = /^https?:\/\/([^/?#]+)([^#]*)$/i.exec(target);
  if (!m) return undefined;
  const rest = m[2] ?? '';
  const path = rest === '' ? '/' : rest.startsWith('?') ? `/${rest}` : rest;
  if (!path.startsWith('/')) return undefined;
  if (m[1]!.includes('@')) return undefined;
  return { path, authority: m[1] };
}
