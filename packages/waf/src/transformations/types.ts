/**
 * A transformation maps a value (a latin1 "byte string", one char per byte) to a new value.
 * Pure and allocation-light: return the input itself when nothing changes, so the engine can
 * skip re-running operators (multiMatch) and reuse caches.
 *
 * Example: `lowercase.apply('SeLeCt')` → `'select'`.
 */
export interface Transformation {
  /** name as written in `t:` (case-insensitive lookup) */
  readonly name: string;
  apply(input: string): string;
}

/** C isspace() in the "C" locale */
export function isCSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

export function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}
