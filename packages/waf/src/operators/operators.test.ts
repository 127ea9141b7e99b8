import assert from 'node:assert/strict';
import { test } from 'node:test';
import { injectionDetector } from '../libinjection/index.ts';
import { type OperatorTx, operators } from './registry.ts';

function tx(vars: Record<string, string> = {}, capturing = false) {
  const caps: Array<string | undefined> = [];
  const t: OperatorTx & { caps: typeof caps } = {
    capturing,
    caps,
    expand: (s) => s.replace(/%\{([^}]+)\}/g, (_m, k: string) => vars[k.toLowerCase()] ?? ''),
    setCaptures: (g) => caps.splice(0, caps.length, ...g),
    flagInternal: () => {},
  };
  return t;
}
const op = (name: string, param: string) => operators.get(name.toLowerCase())!.compile(param, { dir: '/', readFile: () => '' });

test('@rx with capture maps TX.0–TX.9 by PCRE group number', () => {
  const t = tx({}, true);
  assert.ok(op('rx', '(?>x)(a+)(b)')('xaab', t));
  assert.deepEqual(t.caps.slice(0, 3), ['xaab', 'aa', 'b']);
});

test('@pm is case-insensitive and reports the phrase found', () => {
  const t = tx({}, true);
  assert.ok(op('pm', 'foo BarBaz')('xxBARBAZyy', t));
  assert.equal(t.caps[0], 'BarBaz');
  assert.ok(!op('pm', 'foo bar')('fo ba', tx()));
  // overlapping phrases: failure links must find "abd" inside "abcabd"
  assert.ok(op('pm', 'abce abd')('abcabd', tx()));
});

test('numeric and string operators expand macros in the parameter', () => {
  const t = tx({ 'tx.limit': '5' });
  assert.ok(op('ge', '%{tx.limit}')('5', t));
  assert.ok(!op('gt', '%{tx.limit}')('5', t));
  assert.ok(op('lt', '10')('abc', t)); // atoi("abc") = 0
  assert.ok(op('within', '|GET| |POST|')('GET', t));
  assert.ok(!op('within', '|GET|')('PUT', t));
  assert.ok(op('streq', 'a')('a', t));
  assert.ok(op('beginsWith', 'ab')('abc', t));
  assert.ok(op('endsWith', 'bc')('abc', t));
  assert.ok(op('contains', 'b')('abc', t));
});

test('validation operators', () => {
  assert.ok(op('validateByteRange', '32-126')('a\x01', tx()));
  assert.ok(!op('validateByteRange', '9,10,13,32-126')('a\tb', tx()));
  assert.ok(op('validateUrlEncoding', '')('a%zz', tx()));
  assert.ok(op('validateUrlEncoding', '')('a%4', tx()));
  assert.ok(!op('validateUrlEncoding', '')('a%41', tx()));
  assert.ok(!op('validateUtf8Encoding', '')('\xc3\xa9', tx()));
  assert.ok(op('validateUtf8Encoding', '')('\xc0\xaf', tx())); // overlong
  assert.ok(op('validateUtf8Encoding', '')('\xe9x', tx()));
});

test('@ipMatch handles addresses and CIDR, v4 and v6', () => {
  const f = op('ipMatch', '127.0.0.1,10.0.0.0/8,::1');
  assert.ok(f('10.2.3.4', tx()));
  assert.ok(f('::1', tx()));
  assert.ok(!f('192.168.1.1', tx()));
  assert.ok(!f('not-an-ip', tx()));
});

test('@rx sees a payload placed after kilobytes of padding (overlapping windows), anchors keep their meaning', () => {
  const t = tx();
  const pad = 'a'.repeat(20_000);
  const sqli = op('rx', '(?i)\\bunion\\b.{1,100}?\\bselect\\b');
  assert.ok(sqli(`${pad} union all select password from users ${pad}`, t), 'payload in the middle of 40 KB');
  assert.ok(sqli(`${'b'.repeat(8 * 1024 - 10)} union select 1`, t), 'payload across a window boundary');
  assert.ok(!sqli(pad + pad, t));
  // `^` is the value's start, never a window's
  const start = op('rx', '^abc');
  assert.ok(!start(`${'x'.repeat(7 * 1024)}abc${'x'.repeat(20_000)}`, t));
  assert.ok(start(`abc${pad}`, t));
  // `$` is the value's end; both anchors: the value's start (negated validation rules keep working)
  assert.ok(op('rx', 'xyz$')(`${pad}xyz`, t));
  assert.ok(!op('rx', 'xyz$')(`${pad}xyz${'q'.repeat(9000)}`, t));
  assert.ok(op('rx', '^[0-9]+$')('1'.repeat(20_000), t) === op('rx', '^[0-9]+$')('1'.repeat(8 * 1024), t));
});

test('@detectSQLi/@detectXSS remember verdicts: repeated, long and many values match the detector', () => {
  const d = injectionDetector();
  const sqli = op('detectSQLi', '');
  const xss = op('detectXSS', '');
  const attacks = ["1' or '1'='1", '<script>alert(1)</script>', "admin'--", '<img src=x onerror=alert(1)>', '1 union select 1'];
  const benign = ['shoes', 'blue', 'Mozilla/5.0 (X11; Linux x86_64)', 'text/html,application/xhtml+xml', ''];
  // past the memo's bound (4096 values) and its value length limit (256 bytes), then again
  const values = [...attacks, ...benign, ...Array.from({ length: 5000 }, (_, i) => `${attacks[i % 5]}${i}`)];
  values.push(`${'a'.repeat(300)}' or 1=1 --`, 'b'.repeat(300));
  for (const round of [1, 2, 3])
    for (const v of values) {
      const ref = d.sqli(v);
      const t = tx({}, true);
      assert.equal(sqli(v, t), ref.isInjection, `sqli round ${round} ${v}`);
      assert.deepEqual(t.caps, ref.isInjection ? [ref.fingerprint] : []);
      const refX = d.xss(v);
      const u = tx({}, true);
      assert.equal(xss(v, u), refX, `xss round ${round} ${v}`);
      assert.deepEqual(u.caps, refX ? [v] : []);
      const quiet = tx({}, false);
      sqli(v, quiet);
      xss(v, quiet);
      assert.deepEqual(quiet.caps, []);
    }
});
