import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compilePcre } from './compile.ts';
import { translatePcre } from './pcre.ts';

const m = (p: string, s: string) => compilePcre(p).re.test(s);

describe('PCRE → JS translation', () => {
  test('scoped (?i:…) stays scoped, leading (?i) covers the whole pattern', () => {
    assert.ok(m('(?i:ab)c', 'ABc'));
    assert.ok(!m('(?i:ab)c', 'ABC'));
    assert.ok(m('(?i)abc', 'AbC'));
    assert.ok(m('^(?i)up', 'UP'));
  });

  test('inline (?i) mid-group applies to the rest of the group, later alternatives included', () => {
    // PCRE: (?:a(?i)b|c) ≡ a[bB] | [cC]
    assert.ok(m('^(?:a(?i)b|c)$', 'aB'));
    assert.ok(m('^(?:a(?i)b|c)$', 'C'));
    assert.ok(!m('^(?:a(?i)b|c)$', 'AB'));
    assert.ok(!m('^(?:(?i)a)b$', 'AB'));
  });

  test('caseless matching folds ASCII only, like PCRE in the C locale', () => {
    assert.ok(!m('(?i)\xe0', '\xc0'));
    assert.ok(m('(?i)[a-c]', 'B'));
    assert.ok(!m('(?i)[^a-c]', 'B'));
  });

  test('byte semantics: \\s is the C isspace set, 0xa0 is not a space; . matches newline (DOTALL)', () => {
    assert.ok(!m('^\\s$', '\xa0'));
    assert.ok(m('^\\s$', '\x0b'));
    assert.ok(m('^\\S$', '\xa0'));
    assert.ok(m('^a.b$', 'a\nb'));
    assert.ok(m('\\xc2\\xb4', 'x\xc2\xb4'));
  });

  test('anchors: $ is end-only (DOLLAR_ENDONLY), \\z, \\Z, \\A', () => {
    assert.ok(!m('a$', 'a\n'));
    assert.ok(m('a\\Z', 'a\n'));
    assert.ok(!m('a\\z', 'a\n'));
    assert.ok(m('\\Aab', 'abc'));
    assert.ok(!m('\\Ab', 'abc'));
  });

  test('possessive quantifiers and atomic groups do not backtrack', () => {
    assert.ok(!m('^a++a$', 'aaa'));
    assert.ok(m('^a+a$', 'aaa'));
    assert.ok(!m('^(?>a+)a$', 'aaa'));
    assert.ok(m('^\\s*+;x', '  ;x'));
  });

  test('group numbering survives synthetic groups: backreferences and capture map', () => {
    assert.ok(m('(a)x*+(b)\\2', 'axbb'));
    assert.ok(!m('(a)x*+(b)\\2', 'axba'));
    const c = compilePcre('(?>y)(a)(b)');
    const r = c.re.exec('yab')!;
    assert.equal(r[c.groupMap[1]!], 'a');
    assert.equal(r[c.groupMap[2]!], 'b');
  });

  test('POSIX classes, ]-first classes, \\Q…\\E, octal and \\x{…}', () => {
    assert.ok(m('^[[:alpha:]]+$', 'abC'));
    assert.ok(m('^[]a]+$', ']a'));
    assert.ok(m('\\Qa.b\\E', 'a.b'));
    assert.ok(!m('\\Qa.b\\E', 'axb'));
    assert.ok(m('\\012', '\n'));
    assert.ok(m('\\x{41}', 'A'));
  });

  test('unsupported constructs are refused, not approximated', () => {
    assert.throws(() => translatePcre('(?|a)'));
    assert.throws(() => translatePcre('(?x) a'));
    assert.throws(() => translatePcre('\\p{L}'));
  });

  test('backtracking guard: a pathological pattern finishes quickly', () => {
    const c = compilePcre('^(a+)+b$');
    assert.ok(c.linearSafe);
    const t0 = performance.now();
    assert.equal(c.re.test('a'.repeat(40) + 'c'), false);
    assert.ok(performance.now() - t0 < 2000);
  });
});
