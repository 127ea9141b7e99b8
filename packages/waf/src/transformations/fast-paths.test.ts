/**
 * The transformations CRS runs most are written for speed (fast paths, slice copies); these
 * byte-at-a-time reference versions define the behaviour and must agree on arbitrary input.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { cmdLine } from './cmd-line.ts';
import { lowercase } from './lowercase.ts';
import { md5 } from './md5.ts';
import { normalizePathStr } from './normalize-path.ts';
import { sha1 } from './sha1.ts';
import { hexVal } from './types.ts';
import { urlDecode } from './url-decode.ts';
import { urlDecodeUni } from './url-decode-uni.ts';

function refUrlDecode(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 43) out += ' ';
    else if (c === 37 && i + 2 < s.length && hexVal(s.charCodeAt(i + 1)) >= 0 && hexVal(s.charCodeAt(i + 2)) >= 0) {
      out += String.fromCharCode(hexVal(s.charCodeAt(i + 1)) * 16 + hexVal(s.charCodeAt(i + 2)));
      i += 2;
    } else out += s[i];
  }
  return out;
}

function refUrlDecodeUni(s: string): string {
  let out = '';
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 43) {
      out += ' ';
      continue;
    }
    if (c === 37) {
      const u = s.charCodeAt(i + 1);
      if ((u === 117 || u === 85) && i + 5 < n) {
        const h = [2, 3, 4, 5].map((k) => hexVal(s.charCodeAt(i + k)));
        if (h.every((x) => x >= 0)) {
          let b = h[2]! * 16 + h[3]!;
          if (b > 0 && b < 0x5f && s.slice(i + 2, i + 4).toLowerCase() === 'ff') b += 0x20;
          out += String.fromCharCode(b);
          i += 5;
          continue;
        }
      } else if (i + 2 < n && hexVal(s.charCodeAt(i + 1)) >= 0 && hexVal(s.charCodeAt(i + 2)) >= 0) {
        out += String.fromCharCode(hexVal(s.charCodeAt(i + 1)) * 16 + hexVal(s.charCodeAt(i + 2)));
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

function refCmdLine(s: string): string {
  let out = '';
  let space = false;
  for (const ch of s) {
    if (`"'\\^`.includes(ch)) continue;
    if (' ,;\t\r\n'.includes(ch)) {
      if (!space) out += ' ';
      space = true;
    } else if (ch === '/' || ch === '(') {
      if (space) out = out.slice(0, -1);
      space = false;
      out += ch;
    } else {
      out += ch >= 'A' && ch <= 'Z' ? ch.toLowerCase() : ch;
      space = false;
    }
  }
  return out;
}

function refNormalizePath(s: string): string {
  if (s === '') return s;
  const absolute = s.startsWith('/');
  const trailing = s.endsWith('/') || s.endsWith('/.') || s.endsWith('/..') || s === '.' || s === '..';
  const stack: string[] = [];
  for (const p of s.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (stack.length > 0 && stack[stack.length - 1] !== '..') stack.pop();
      else if (!absolute) stack.push('..');
      continue;
    }
    stack.push(p);
  }
  let out = (absolute ? '/' : '') + stack.join('/');
  if (trailing && stack.length > 0) out += '/';
  return out;
}

const bytes = fc
  .array(
    fc.constantFrom(
      '%',
      'u',
      'U',
      'f',
      'F',
      '0',
      '1',
      'a',
      'g',
      '+',
      ' ',
      '/',
      '.',
      '\\',
      '"',
      "'",
      '^',
      ',',
      ';',
      '\t',
      '\n',
      'A',
      'Z',
      '(',
      '\xff',
      '\0',
    ),
    {
      maxLength: 24,
    },
  )
  .map((a) => a.join(''));

test('fast urlDecode, urlDecodeUni, cmdLine, normalizePath and lowercase equal their reference versions', () => {
  for (const [name, fast, ref] of [
    ['urlDecode', urlDecode.apply, refUrlDecode],
    ['urlDecodeUni', urlDecodeUni.apply, refUrlDecodeUni],
    ['cmdLine', cmdLine.apply, refCmdLine],
    ['normalizePath', normalizePathStr, refNormalizePath],
    ['lowercase', lowercase.apply, (s: string) => s.replace(/[A-Z]+/g, (m) => m.toLowerCase())],
  ] as const)
    fc.assert(
      fc.property(bytes, (s) => {
        assert.equal(fast(s), ref(s), `${name}(${JSON.stringify(s)})`);
      }),
      { numRuns: 20_000 },
    );
  assert.equal(urlDecodeUni.apply('%uff0e%2e+x'), '.. x');
  assert.equal(lowercase.apply('AbC\xc0D'), 'abc\xc0d');
  assert.equal(cmdLine.apply('A'.repeat(20000)), 'a'.repeat(20000));
});

test('one-shot sha1 and md5 hash the latin1 bytes like createHash', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }), (codes) => {
      const s = String.fromCharCode(...codes);
      for (const [t, alg] of [
        [sha1, 'sha1'],
        [md5, 'md5'],
      ] as const)
        assert.equal(t.apply(s), createHash(alg).update(s, 'latin1').digest().toString('latin1'));
    }),
    { numRuns: 2000 },
  );
});

test('remembered sha1 and md5 digests stay right when repeated, long, and past the memo bound', () => {
  const ref = (alg: string, s: string) => createHash(alg).update(s, 'latin1').digest().toString('latin1');
  // 3000 distinct values (the memo holds 1024), then the first ones again, and long values
  const values = Array.from({ length: 3000 }, (_, i) => `Mozilla/5.0 agent ${i}\xff`);
  values.push('x'.repeat(5000), 'x'.repeat(5001));
  for (const round of [1, 2])
    for (const v of values) {
      assert.equal(sha1.apply(v), ref('sha1', v), `sha1 round ${round}`);
      assert.equal(md5.apply(v), ref('md5', v), `md5 round ${round}`);
    }
});
