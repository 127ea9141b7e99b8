/** Output helpers: `--json` prints the API object; otherwise human tables and key/value blocks. */

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}

export function line(s = ''): void {
  process.stdout.write(`${s}\n`);
}

/** Progress and notices go to stderr so stdout stays the command's result. */
export function note(s: string): void {
  process.stderr.write(`${s}\n`);
}

export type Column<T> = [header: string, get: (row: T) => unknown];

function cell(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.length ? v.map(cell).join(',') : '-';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v).replace(/\s+/g, ' ');
}

/** A plain, aligned table (no borders, so `awk` and `grep` work on it). */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[]): void {
  const data = rows.map((r) => columns.map(([, get]) => cell(get(r))));
  const headers = columns.map(([h]) => h.toUpperCase());
  const widths = headers.map((h, i) => Math.max(h.length, ...data.map((d) => (d[i] ?? '').length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  line(fmt(headers));
  for (const d of data) line(fmt(d));
}

/** `key: value` lines, aligned. */
export function fields(pairs: readonly [string, unknown][]): void {
  const w = Math.max(...pairs.map(([k]) => k.length));
  for (const [k, v] of pairs) line(`${`${k}:`.padEnd(w + 1)} ${cell(v)}`);
}

/** Human age of an ISO timestamp: `5s`, `3m`, `2h`, `4d`. */
export function ago(iso: string | null | undefined): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}
