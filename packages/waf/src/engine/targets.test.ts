import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseVariables } from '../config/parse-variables.ts';
import { compileTargets, literalSelector } from './compile.ts';
import { keySelected } from './targets.ts';

const pos = { file: 'targets.test', line: 1 };

test('literal key selectors are recognized only when the regex is a plain literal', () => {
  assert.deepEqual(literalSelector('^HEADER_NAME_'), { text: 'header_name_', anchored: true });
  assert.deepEqual(literalSelector('MSC_'), { text: 'msc_', anchored: false });
  assert.deepEqual(literalSelector('MULTIPART_HEADERS_CONTENT_TYPES_*'), {
    text: 'multipart_headers_content_types',
    anchored: false,
  });
  assert.deepEqual(literalSelector('leakage\\/errors'), { text: 'leakage/errors', anchored: false });
  for (const re of ['^a.b', 'a|b', 'ab$', 'a\\*', '^_*', '(?i)x', '[ab]', 'a+', '^', '', 'a\\_*', 'a\\.*', 'a\\d'])
    assert.equal(literalSelector(re), undefined, re);
});

test('keySelected agrees with the compiled (?i) selector regex on random keys', () => {
  const patterns = ['^HEADER_NAME_', 'MSC_', 'TYPES_*', '^__utm', '-Id', '^x-', 'ab', 'e\\/x', '^a\\.b', '^a.b', 'a|B'];
  const specs = patterns.map((p) => compileTargets(parseVariables(`TX:/${p}/`, pos), pos)[0]!);
  assert.ok(specs.filter((s) => s.keyLiteral !== undefined).length >= 9);
  // keys over letters of both cases, the literals' other bytes, and bytes >= 0x80 (never case-folded)
  const ch = fc.constantFrom(...'aAbBhHeEmMsScCtTyYpPxXiIdD_-.|/'.split(''), '\xe0', '\xc0', '\xff', '0');
  fc.assert(
    fc.property(fc.array(ch, { maxLength: 20 }), fc.boolean(), (chars, prefix) => {
      const base = chars.join('');
      for (const spec of specs) {
        // also keys built around the literal itself, in mixed case
        const lit = spec.keyLiteral?.text ?? '';
        for (const key of [base, prefix ? lit.toUpperCase() + base : base + lit, base + lit.toUpperCase() + base])
          assert.equal(keySelected(spec, key), spec.re!.re.test(key), `${spec.keyRegex} on ${JSON.stringify(key)}`);
      }
    }),
    { numRuns: 3000 },
  );
});
