import type { Rng } from './prng.ts';

/** Strings that have broken servers before: NULs, odd unicode, injections, traversal. */
export const NASTY_STRINGS: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\uFEFFbom',
  '\uD800',
  '\uDFFF\uD800',
  '\u202Eevil',
  'ünïcødé-ñame',
  '🚀🔥💥',
  'ＦＵＬＬＷＩＤＴＨ',
  '../../../../etc/passwd',
  '..%2f..%2fetc%2fpasswd',
  "'; drop table sites; --",
  '" or 1=1 --',
  '<script>alert(1)</script>',
  '$' + '{7*7}{{7*7}}',
  '%00%ff%fe',
  '\r\nset-cookie: x=1',
  'null',
  'undefined',
  'NaN',
  '-1',
  '1e309',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'A'.repeat(300),
];

/** Hostnames every validator must refuse (or at least not choke on). */
export const BAD_HOSTNAMES: readonly string[] = [
  '',
  '.',
  'localhost.',
  'example.com.',
  '-lead.example.com',
  'trail-.example.com',
  'a..b.com',
  'exa mple.com',
  'ex\u0000ample.com',
  'ünïcode.example',
  '*.example.com',
  'example',
  '1.2.3.4',
  '[::1]',
  'http://example.com',
  'example.com/path',
  'example.com:8080',
  `${'a'.repeat(64)}.com`,
  `${'abcdefghi.'.repeat(26)}com`,
  'xn--.com',
  'EXAMPLE.COM',
  'exa_mple.com',
  '123.456',
];

/** Bodies that are not valid JSON (or are JSON of the wrong shape). */
export const MALFORMED_JSON: readonly string[] = [
  '{',
  '}',
  '{"a":',
  '{"a":1,}',
  "{'a':1}",
  '[1,2',
  'nul',
  'tru',
  '{"a":"\\u00"}',
  '\uFEFF{}',
  '{"a":1}{"b":2}',
  '{"a":NaN}',
  '{"a":Infinity}',
  '{"a":01}',
  '{"a":"\u0000"}',
  '{"a" 1}',
  '\u0000',
  ' ',
  '<xml/>',
  'a=1&b=2',
];

/** JSON texts carrying prototype-pollution keys (must be rejected, never merged). */
export function pollutionBodies(rng: Rng, valid: unknown): string[] {
  const base = valid && typeof valid === 'object' && !Array.isArray(valid) ? JSON.stringify(valid).slice(1, -1) : '';
  const sep = base ? ',' : '';
  return [
    `{${base}${sep}"__proto__":{"polluted":true,"isSuperuser":true}}`,
    `{${base}${sep}"constructor":{"prototype":{"polluted":true}}}`,
    `{"__proto__":{"polluted":${rng.int(100)}}${sep}${base}}`,
    `{${base}${sep}"nested":{"__proto__":{"polluted":true}}}`,
    `[{"__proto__":{"polluted":true}}]`,
  ];
}

export type Mutation =
  | 'valid'
  | 'unknown-field'
  | 'wrong-type'
  | 'drop-field'
  | 'huge-string'
  | 'nasty-string'
  | 'bad-hostname'
  | 'null-field'
  | 'wrong-root'
  | 'deep-nesting'
  | 'big-array';

export const MUTATIONS: ReadonlyArray<readonly [number, Mutation]> = [
  [30, 'valid'],
  [8, 'unknown-field'],
  [10, 'wrong-type'],
  [6, 'drop-field'],
  [4, 'huge-string'],
  [10, 'nasty-string'],
  [6, 'bad-hostname'],
  [5, 'null-field'],
  [4, 'wrong-root'],
  [2, 'deep-nesting'],
  [2, 'big-array'],
];

const WRONG_VALUES: readonly unknown[] = [
  0,
  -1,
  1.5,
  2 ** 53 + 2,
  -1e308,
  true,
  false,
  null,
  '',
  '1',
  'true',
  [],
  [1, 'a'],
  {},
  { a: 1 },
];

function paths(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (v && typeof v === 'object') {
    for (const [k, child] of Object.entries(v)) {
      const p = [...prefix, Array.isArray(v) ? Number(k) : k];
      out.push(p);
      paths(child, p, out);
    }
  }
  return out;
}

function setAt(root: unknown, path: (string | number)[], value: unknown, remove = false): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let cur: Record<string | number, unknown> = copy;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (remove) {
    if (Array.isArray(cur)) cur.splice(Number(last), 1);
    else delete cur[last];
  } else cur[last] = value;
  return copy;
}

function deep(n: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = [v];
  return v;
}

/** Apply one mutation to a valid value. Returns the new value (JSON-serialisable). */
export function mutate(rng: Rng, valid: unknown, m: Mutation): unknown {
  const ps = paths(valid);
  const strPaths = ps.filter((p) => typeof getAt(valid, p) === 'string');
  const anyPath = ps.length ? rng.pick(ps) : [];
  switch (m) {
    case 'valid':
      return valid;
    case 'unknown-field': {
      const objPaths = [[], ...ps.filter((p) => isPlainObject(getAt(valid, p)))];
      const p = rng.pick(objPaths);
      const key = rng.pick(['zzUnknown', 'isSuperuser', 'role', 'id', 'orgId', 'passwordHash', 'admin', 'x'.repeat(200)]);
      return isPlainObject(valid) || p.length ? setAt(valid, [...p, key], rng.pick(WRONG_VALUES)) : valid;
    }
    case 'wrong-type':
      return ps.length ? setAt(valid, anyPath, rng.pick(WRONG_VALUES)) : rng.pick(WRONG_VALUES);
    case 'drop-field':
      return ps.length ? setAt(valid, anyPath, undefined, true) : {};
    case 'null-field':
      return ps.length ? setAt(valid, anyPath, null) : null;
    case 'huge-string': {
      const s = rng.pick(['x', 'é', '🚀', '\u0000', 'ab-']).repeat(rng.pick([1000, 20_000, 60_000]));
      return strPaths.length ? setAt(valid, rng.pick(strPaths), s) : { huge: s };
    }
    case 'nasty-string':
      return strPaths.length ? setAt(valid, rng.pick(strPaths), rng.pick(NASTY_STRINGS)) : rng.pick(NASTY_STRINGS);
    case 'bad-hostname':
      return strPaths.length ? setAt(valid, rng.pick(strPaths), rng.pick(BAD_HOSTNAMES)) : { hostname: rng.pick(BAD_HOSTNAMES) };
    case 'wrong-root':
      return rng.pick([[], [valid], 'string', 42, true, null]);
    case 'deep-nesting':
      return ps.length ? setAt(valid, anyPath, deep(rng.pick([50, 500]))) : deep(500);
    case 'big-array':
      return ps.length
        ? setAt(
            valid,
            anyPath,
            Array.from({ length: 10_000 }, (_, i) => i),
          )
        : Array.from({ length: 10_000 }, () => ({}));
  }
}

function getAt(root: unknown, path: (string | number)[]): unknown {
  let cur = root as Record<string | number, unknown> | undefined;
  for (const k of path) cur = cur?.[k] as Record<string | number, unknown> | undefined;
  return cur;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** Garbage for a path segment: wrong shapes, encodings that confuse routers, unknown ids. */
export function garbageSegment(rng: Rng): string {
  return rng.pick([
    'x',
    '0',
    '-1',
    'null',
    '__proto__',
    'constructor',
    'site_0000000000000000',
    'env_zzzzzzzzzzzzzzzz',
    'SITE_AAAAAAAAAAAAAAAA',
    'a'.repeat(199),
    'a'.repeat(400),
    '%00',
    '%2e%2e',
    '..',
    '%',
    '%zz',
    '%E2%80%AE',
    encodeURIComponent('ünï🚀'),
    encodeURIComponent("'; drop table sites; --"),
    '%0d%0aset-cookie:x=1',
    '1e309',
    ' ',
  ]);
}

/** Garbage values for query parameters. */
export function garbageQueryValue(rng: Rng): string {
  return rng.pick(['', '-1', '0', '501', '1e309', 'NaN', 'abc', '1.5', 'true', '%00', '__proto__', 'a'.repeat(5000), '[]', '{}']);
}
