/**
 * /etc/subuid and /etc/subgid handling. Pure.
 *
 * Host uid layout (rationale in docs/runtime.md):
 *   - `containers` 700000000 +100000000: podman's pool for ad-hoc `--userns=auto` runs
 *     (maintenance containers); podman requires this entry for any `auto` mode.
 *   - `triplane`  1000000000 +1000000000: reserved for site environments; environment slot N
 *     runs as host uids 1000000000 + N*65536 .. +65535 (explicit, stable mapping, so
 *     volumes keep their owner across pod replays and no two environments share a uid).
 * Both sit above the ranges useradd hands out (SUB_UID_MAX defaults to 600100000) and
 * below 2^31 so every tool prints them as positive numbers.
 */
export interface SubidEntry {
  name: string;
  start: number;
  count: number;
}

export const CONTAINERS_SUBID: SubidEntry = { name: 'containers', start: 700_000_000, count: 100_000_000 };
export const TRIPLANE_SUBID: SubidEntry = { name: 'triplane', start: 1_000_000_000, count: 1_000_000_000 };

export function parseSubid(content: string): SubidEntry[] {
  const out: SubidEntry[] = [];
  for (const raw of content.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [name, s, c] = line.split(':');
    const start = Number(s);
    const count = Number(c);
    if (!name || !Number.isSafeInteger(start) || !Number.isSafeInteger(count)) continue;
    out.push({ name, start, count });
  }
  return out;
}

function overlaps(a: SubidEntry, b: SubidEntry): boolean {
  return a.start < b.start + b.count && b.start < a.start + a.count;
}

export type SubidDecision = { kind: 'present' } | { kind: 'append'; content: string } | { kind: 'conflict'; message: string };

/**
 * Decides what to do so `want` is in the file. An entry with the same name and range is
 * kept; another entry of that name, or another name overlapping the range, is a conflict
 * an administrator must resolve (we never rewrite other people's ranges).
 */
export function ensureSubidEntry(content: string, want: SubidEntry, file: string): SubidDecision {
  const entries = parseSubid(content);
  const same = entries.filter((e) => e.name === want.name);
  if (same.some((e) => e.start === want.start && e.count === want.count)) return { kind: 'present' };
  if (same.length > 0) {
    const e = same[0] as SubidEntry;
    return {
      kind: 'conflict',
      message: `${file} has ${e.name}:${e.start}:${e.count}, but Triplane needs ${want.name}:${want.start}:${want.count}; change that line (or remove it) and rerun \`triplane host prepare\``,
    };
  }
  const clash = entries.find((e) => overlaps(e, want));
  if (clash) {
    return {
      kind: 'conflict',
      message: `${file}: ${clash.name}:${clash.start}:${clash.count} overlaps the range Triplane reserves (${want.name}:${want.start}:${want.count}); move that user's range and rerun \`triplane host prepare\``,
    };
  }
  const sep = content === '' || content.endsWith('\n') ? '' : '\n';
  return { kind: 'append', content: `${content}${sep}${want.name}:${want.start}:${want.count}\n` };
}
