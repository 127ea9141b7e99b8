import assert from 'node:assert/strict';
import { test } from 'node:test';
import { transformations } from './registry.ts';

const CASES: Array<[string, string, string]> = [
  ['lowercase', 'SeLeCT \xc0', 'select \xc0'],
  ['urlDecode', 'a%20b+c%zz%4', 'a b c%zz%4'],
  ['urlDecodeUni', '%u0041%uff0e%2e+', 'A.. '],
  ['htmlEntityDecode', '&lt;a&#x41;&#66&quot;&amp;&nbsp;&foo;', '<aAB"&\xa0&foo;'],
  ['jsDecode', '\\x41\\u0042\\u2028\\101\\n\\q', 'AB(A\nq'],
  ['cssDecode', '\\41 b\\000062c\\\nd\\e', 'Ab' + 'bc' + 'd' + '\x0e'],
  ['utf8toUnicode', 'a\xc3\xa9b', 'a%u00e9b'],
  ['removeNulls', 'a\0b', 'ab'],
  ['cmdLine', 'C^at  "/etc/pa\'sswd" ,x;Y', 'cat/etc/passwd x y'],
  ['compressWhitespace', 'a \t\n b\xa0\xa0c', 'a b c'],
  ['removeWhitespace', 'a \tb\xa0c', 'abc'],
  ['normalizePath', '/a/./b//c/../d/', '/a/b/d/'],
  ['normalizePath', '../../etc/passwd', '../../etc/passwd'],
  ['normalizePathWin', '\\a\\..\\b', '/b'],
  ['replaceComments', 'a/* x */b/* y', 'a b '],
  ['hexEncode', 'AB', '4142'],
  ['length', 'abcd', '4'],
  ['base64Decode', 'QUJD', 'ABC'],
  ['sha1', 'abc', Buffer.from('a9993e364706816aba3e25717850c26c9cd0d89d', 'hex').toString('latin1')],
];

test('transformations behave like ModSecurity 2 on byte strings', () => {
  for (const [name, input, want] of CASES) {
    const t = transformations.get(name.toLowerCase());
    assert.ok(t, `missing t:${name}`);
    assert.equal(t.apply(input), want, `t:${name}(${JSON.stringify(input)})`);
  }
});

test('every transformation CRS uses is registered', () => {
  for (const n of 'urlDecodeUni lowercase htmlEntityDecode utf8toUnicode removeNulls jsDecode cssDecode cmdLine urlDecode compressWhitespace removeWhitespace normalisePath normalizePath normalizePathWin replaceComments hexEncode sha1 length base64Decode'.split(
    ' ',
  ))
    assert.ok(transformations.has(n.toLowerCase()), n);
});
