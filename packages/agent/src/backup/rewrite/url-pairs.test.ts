import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTriplaneError } from '@triplane/kernel';
import fc from 'fast-check';
import { compileReplacer, newRewriteStats } from './replacer.ts';
import { replaceInPhpValue } from './serialized.ts';
import { urlReplaceRules } from './url-pairs.ts';

const r = compileReplacer(urlReplaceRules('https://old.example', 'https://new.example.org'));
const rep = (s: string) => replaceInPhpValue(s, r);

describe('urlReplaceRules', () => {
  it('covers every form WordPress stores a URL in, moving http and https to the new scheme', () => {
    const cases: Array<[string, string]> = [
      ['https://old.example', 'https://new.example.org'],
      ['http://old.example/wp-content/a.jpg', 'https://new.example.org/wp-content/a.jpg'],
      ['{"url":"https:\\/\\/old.example\\/shop"}', '{"url":"https:\\/\\/new.example.org\\/shop"}'],
      ['{"url":"http:\\/\\/old.example"}', '{"url":"https:\\/\\/new.example.org"}'],
      ['?redirect_to=https%3A%2F%2Fold.example%2Fcart', '?redirect_to=https%3A%2F%2Fnew.example.org%2Fcart'],
      ['?r=http%3a%2f%2fold.example%2f', '?r=https%3a%2f%2fnew.example.org%2f'],
      ['<img src="//old.example/i.png">', '<img src="//new.example.org/i.png">'],
      ['"\\/\\/old.example\\/i.png"', '"\\/\\/new.example.org\\/i.png"'],
      ['%2F%2Fold.example%2Fx', '%2F%2Fnew.example.org%2Fx'],
      ["url('https://old.example/bg.png')", "url('https://new.example.org/bg.png')"],
      ['https://old.example:8443/x', 'https://new.example.org:8443/x'],
      ['https://old.example?p=1 https://old.example#top', 'https://new.example.org?p=1 https://new.example.org#top'],
      ['Visit https://old.example.', 'Visit https://new.example.org.'],
      ['a\\https://old.example\\', 'a\\https://new.example.org\\'],
    ];
    for (const [from, to] of cases) assert.equal(rep(from), to, from);
  });

  it('respects host boundaries and leaves mail addresses and other hosts alone', () => {
    for (const s of [
      'https://old.example.com/',
      'https://old.examples/',
      'https://old.example-shop.net',
      'https://old.example_x',
      'https://www.old.example/',
      'https://sub.old.example/',
      'mailto:admin@old.example',
      'old.example',
      'HTTPS://OLD.EXAMPLE/',
      'https:\\/\\/old.example.com',
      'https%3A%2F%2Fold.example.com',
    ]) {
      assert.equal(rep(s), s, s);
    }
  });

  it('handles an old URL with a path (subdirectory install) without touching sibling paths', () => {
    const p = compileReplacer(urlReplaceRules('http://old.example/blog/', 'https://new.example'));
    assert.equal(replaceInPhpValue('http://old.example/blog/2024/x', p), 'https://new.example/2024/x');
    assert.equal(replaceInPhpValue('https:\\/\\/old.example\\/blog\\/x', p), 'https:\\/\\/new.example\\/x');
    assert.equal(replaceInPhpValue('http%3A%2F%2Fold.example%2Fblog%2Fx', p), 'https%3A%2F%2Fnew.example%2Fx');
    assert.equal(replaceInPhpValue('http://old.example/blogger', p), 'http://old.example/blogger');
    assert.equal(replaceInPhpValue('http://old.example/other', p), 'http://old.example/other');
  });

  it('does one pass: a new URL containing the old one is not replaced again', () => {
    const p = compileReplacer(urlReplaceRules('https://shop.example', 'https://staging.shop.example'));
    const stats = newRewriteStats();
    assert.equal(
      replaceInPhpValue('https://shop.example/a //shop.example/b', p, stats),
      'https://staging.shop.example/a //staging.shop.example/b',
    );
    assert.equal(stats.replacements, 2);
    // and back again (pull), exactly
    const back = compileReplacer(urlReplaceRules('https://staging.shop.example', 'https://shop.example'));
    assert.equal(
      replaceInPhpValue('https://staging.shop.example/a //staging.shop.example/b', back),
      'https://shop.example/a //shop.example/b',
    );
  });

  it('round-trips: old → new → old restores any text that did not already contain the new URL', () => {
    const fwd = compileReplacer(urlReplaceRules('https://old.example', 'https://new.example'));
    const bwd = compileReplacer(urlReplaceRules('https://new.example', 'https://old.example'));
    const piece = fc.constantFrom(
      'https://old.example',
      '//old.example',
      'https:\\/\\/old.example',
      '/x',
      '.com',
      ' ',
      'é',
      '"',
      'a',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (parts) => {
        const s = parts.join('');
        const there = replaceInPhpValue(s, fwd);
        assert.ok(!/(?:\/\/|\\\/\\\/)old\.example(?![A-Za-z0-9_-]|\.[A-Za-z0-9-])/.test(there), there);
        assert.equal(replaceInPhpValue(there, bwd), s);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects URLs that are not site URLs with a validation error', () => {
    for (const [a, b] of [
      ['old.example', 'https://n.example'],
      ['ftp://old.example', 'https://n.example'],
      ['https://old.example/?p=1', 'https://n.example'],
      ['https://u:p@old.example', 'https://n.example'],
      ['https://old.example', 'https://n.example/#x'],
    ] as const) {
      assert.throws(
        () => urlReplaceRules(a, b),
        (e: unknown) => isTriplaneError(e) && e.code === 'TRIPLANE_ERR_VALIDATION',
      );
    }
  });
});
