import type { Transformation } from './types.ts';

/** ASCII-only, like tolower() in the C locale ModSecurity runs in (0xc0 stays 0xc0). */
export function asciiLower(s: string): string {
  if (!/[A-Z]/.test(s)) return s;
  // without bytes ≥ 0x80, String#toLowerCase is exactly the ASCII mapping (and native)
  if (!/[\x80-\xff]/.test(s)) return s.toLowerCase();
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

export const lowercase: Transformation = { name: 'lowercase', apply: asciiLower };
