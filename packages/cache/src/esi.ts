/**
 * Minimal ESI for Magento's Varnish mode (spec §2.9): `<esi:include src="…"/>`, `<esi:remove>…</esi:remove>`
 * (dropped) and `<!--esi … -->` (unwrapped). Pure parsing; the adapter resolves includes through the
 * same cache pipeline and concatenates. Max nesting depth as Varnish's `max_esi_depth`.
 */
export const MAX_ESI_DEPTH = 5;

export type EsiSegment = { kind: 'text'; text: string } | { kind: 'include'; src: string };

export function hasEsi(body: Buffer): boolean {
  return body.includes('<esi:') || body.includes('<!--esi');
}

const TOKEN =
  /<esi:include\s+[^>]*?src\s*=\s*("([^"]*)"|'([^']*)')[^>]*?\/?>(?:\s*<\/esi:include>)?|<esi:remove>[\s\S]*?<\/esi:remove>|<!--esi([\s\S]*?)-->|<\/?esi:[^>]*>/gi;

export function parseEsi(text: string): EsiSegment[] {
  const out: EsiSegment[] = [];
  let last = 0;
  for (const m of text.matchAll(TOKEN)) {
    const at = m.index ?? 0;
    if (at > last) out.push({ kind: 'text', text: text.slice(last, at) });
    last = at + m[0].length;
    const src = m[2] ?? m[3];
    if (src !== undefined) out.push({ kind: 'include', src: decodeEntities(src) });
    else if (m[4] !== undefined) out.push(...parseEsi(m[4]));
    // <esi:remove> and any other esi tag: dropped
  }
  if (last < text.length) out.push({ kind: 'text', text: text.slice(last) });
  return out;
}

function decodeEntities(s: string): string {
  return s
    .replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'");
}

/**
 * Resolves an include's `src` against the parent: absolute `http(s)://host/path` → that host
 * (https treated as http, §2.9), `/path` → parent host, `path` → relative to the parent URL's directory.
 * Returns undefined for anything unusable (other schemes, userinfo, bad hosts).
 */
export function resolveEsiSrc(src: string, parentHost: string, parentUrl: string): { host: string; url: string } | undefined {
  const abs = /^https?:\/\/([^/?#@]+)([^#]*)$/i.exec(src);
  if (abs) {
    const host = abs[1]!.toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
    const rest = abs[2] ?? '';
    if (rest !== '' && !rest.startsWith('/') && !rest.startsWith('?')) return undefined;
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(host)) return undefined;
    return { host, url: rest === '' ? '/' : rest.startsWith('/') ? rest : `/${rest}` };
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(src) || src.startsWith('//')) return undefined;
  if (src.startsWith('/')) return { host: parentHost, url: src };
  const q = parentUrl.indexOf('?');
  const path = q < 0 ? parentUrl : parentUrl.slice(0, q);
  return { host: parentHost, url: path.slice(0, path.lastIndexOf('/') + 1) + src };
}
