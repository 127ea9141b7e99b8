import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compileReplacer, newRewriteStats } from './replacer.ts';
import { MAX_SERIALIZED_DEPTH, replaceInPhpBytes, replaceInPhpValue } from './serialized.ts';
import { urlReplaceRules } from './url-pairs.ts';

// ---- a small PHP value model, its serializer and an independent unserializer (test oracle) ----

type PV =
  | { t: 'null' }
  | { t: 'bool'; v: boolean }
  | { t: 'int'; v: number }
  | { t: 'float'; raw: string } // PHP's own text for the float
  | { t: 'str'; v: string }
  | { t: 'ser'; v: PV } // a string holding serialize(v): WordPress double serialization
  | { t: 'arr'; entries: Array<[number | string, PV]> }
  | { t: 'obj'; cls: string; props: Array<[string, PV]> };

const blen = (s: string) => Buffer.byteLength(s, 'utf8');
const sstr = (s: string) => `s:${blen(s)}:"${s}";`;
const key = (k: number | string) => (typeof k === 'number' ? `i:${k};` : sstr(k));

function ser(v: PV): string {
  switch (v.t) {
    case 'null':
      return 'N;';
    case 'bool':
      return `b:${v.v ? 1 : 0};`;
    case 'int':
      return `i:${v.v};`;
    case 'float':
      return `d:${v.raw};`;
    case 'str':
      return sstr(v.v);
    case 'ser':
      return sstr(ser(v.v));
    case 'arr':
      return `a:${v.entries.length}:{${v.entries.map(([k, x]) => key(k) + ser(x)).join('')}}`;
    case 'obj':
      return `O:${blen(v.cls)}:"${v.cls}":${v.props.length}:{${v.props.map(([k, x]) => sstr(k) + ser(x)).join('')}}`;
  }
}

/** Reference unserializer on bytes; throws on anything invalid. Objects read back as arrays. */
function unser(input: string): PV {
  const b = Buffer.from(input, 'utf8');
  let i = 0;
  const expect = (s: string) => {
    if (b.toString('latin1', i, i + s.length) !== s) throw new Error(`expected ${s} at ${i}`);
    i += s.length;
  };
  const until = (c: string) => {
    const j = b.indexOf(c, i, 'latin1');
    if (j < 0) throw new Error(`no ${c}`);
    const r = b.toString('latin1', i, j);
    i = j + 1;
    return r;
  };
  const str = (end: string) => {
    const n = Number(until(':'));
    expect('"');
    const v = b.toString('utf8', i, i + n);
    if (Buffer.byteLength(v) !== n) throw new Error('bad utf8 length');
    i += n;
    expect(end);
    return v;
  };
  const entries = () => {
    const n = Number(until(':'));
    expect('{');
    const out: Array<[number | string, PV]> = [];
    for (let k = 0; k < n; k++) {
      const kt = String.fromCharCode(b[i]!);
      i += 2;
      out.push([kt === 'i' ? Number(until(';')) : str('";'), val()]);
    }
    expect('}');
    return out;
  };
  const val = (): PV => {
    const t = String.fromCharCode(b[i]!);
    i += 2;
    if (t === 'N') return { t: 'null' };
    if (t === 'b') return { t: 'bool', v: until(';') === '1' };
    if (t === 'i') return { t: 'int', v: Number(until(';')) };
    if (t === 'd') return { t: 'float', raw: until(';') };
    if (t === 's') return { t: 'str', v: str('";') };
    if (t === 'a') return { t: 'arr', entries: entries() };
    if (t === 'O') {
      str('":');
      return { t: 'arr', entries: entries() };
    }
    throw new Error(`bad type ${t}`);
  };
  const v = val();
  if (i !== b.length) throw new Error('trailing bytes');
  return v;
}

// Expected result of a replacement on the model: every string value, at any depth, including
// strings holding serialized data; keys and class names untouched.
function expectReplaced(v: PV, from: string, to: string): PV {
  switch (v.t) {
    case 'str':
      return { t: 'str', v: v.v.replaceAll(from, to) };
    case 'ser':
      return { t: 'ser', v: expectReplaced(v.v, from, to) };
    case 'arr':
      return { t: 'arr', entries: v.entries.map(([k, x]) => [k, expectReplaced(x, from, to)]) };
    case 'obj':
      return { ...v, props: v.props.map(([k, x]) => [k, expectReplaced(x, from, to)]) };
    default:
      return v;
  }
}

// 'ser' and 'obj' read back as plain data: normalise the model to what unser() yields.
function asRead(v: PV): PV {
  switch (v.t) {
    case 'ser':
      return { t: 'str', v: ser(v.v) };
    case 'arr':
      return { t: 'arr', entries: v.entries.map(([k, x]) => [k, asRead(x)]) };
    case 'obj':
      return { t: 'arr', entries: v.props.map(([k, x]) => [k, asRead(x)]) };
    default:
      return v;
  }
}

// No ':' in random text so that a random string never happens to look serialized.
const chars = fc.constantFrom('a', 'b', 'OLD', 'x/', ' ', '"', ';', '{', '}', '\\', '\n', '\0', 'é', '日', '😀', "'");
const text = fc.array(chars, { maxLength: 12 }).map((a) => a.join(''));
const keyStr = text.map((s) => `k${s}`); // never a numeric string (PHP would turn it into an int key)
const floats = fc.constantFrom('0.5', '-1.25', '1.0E+25', '0', '3');

const pv: fc.Arbitrary<PV> = fc.letrec<{ v: PV }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant<PV>({ t: 'null' }),
    fc.boolean().map<PV>((v) => ({ t: 'bool', v })),
    fc.integer({ min: -1e6, max: 1e6 }).map<PV>((v) => ({ t: 'int', v })),
    floats.map<PV>((raw) => ({ t: 'float', raw })),
    text.map<PV>((v) => ({ t: 'str', v })),
    tie('v').map<PV>((v) => ({ t: 'ser', v })),
    fc
      .uniqueArray(fc.tuple(fc.oneof(fc.nat(50), keyStr), tie('v')), { maxLength: 4, selector: ([k]) => k })
      .map<PV>((entries) => ({ t: 'arr', entries })),
    fc
      .tuple(
        fc.constantFrom('stdClass', 'WP_Post', 'OLD_Widget'),
        fc.uniqueArray(
          fc.tuple(
            fc.oneof(
              keyStr,
              keyStr.map((k) => `\0*\0${k}`),
              keyStr.map((k) => `\0OLD_Widget\0${k}`),
            ),
            tie('v'),
          ),
          {
            maxLength: 3,
            selector: ([k]) => k,
          },
        ),
      )
      .map<PV>(([cls, props]) => ({ t: 'obj', cls, props })),
  ),
})).v;

const toValues = fc.constantFrom('NEW', 'n', 'nëw-日本-longer', '', 'OLDOLD');

describe('replaceInPhpValue: property-based', () => {
  it('replaces every string value at any depth, keeps structure and byte lengths valid', () => {
    fc.assert(
      fc.property(pv, toValues, (v, to) => {
        const input = ser(v);
        const stats = newRewriteStats();
        const out = replaceInPhpValue(input, [['OLD', to]], stats);
        assert.equal(stats.malformed, 0);
        const got = unser(out);
        assert.deepEqual(got, asRead(expectReplaced(v, 'OLD', to)));
        // the expected serialization, built independently, is byte-identical
        assert.equal(out, ser(expectReplaced(v, 'OLD', to)));
      }),
      { numRuns: 400 },
    );
  });

  it('leaves the value byte-identical when nothing matches or from === to', () => {
    fc.assert(
      fc.property(pv, (v) => {
        const input = ser(v);
        assert.equal(replaceInPhpValue(input, [['zzz-not-there', 'y']]), input);
        assert.equal(replaceInPhpValue(input, [['OLD', 'OLD']]), input);
        assert.equal(replaceInPhpValue(input, []), input);
      }),
      { numRuns: 200 },
    );
  });

  it('never touches truncated serialized data: unchanged and counted, at every cut', () => {
    const r = compileReplacer([['OLD', 'NEWER']]);
    fc.assert(
      fc.property(
        pv.filter((v) => (v.t === 'arr' || v.t === 'obj') && ser(v).includes('OLD')),
        fc.nat(),
        (v, cut) => {
          const bytes = Buffer.from(ser(v), 'utf8');
          const truncated = bytes.toString('latin1', 0, 1 + (cut % (bytes.length - 1))); // may split a UTF-8 char
          if (!truncated.includes('OLD')) return;
          const stats = newRewriteStats();
          assert.equal(replaceInPhpBytes(truncated, r, stats), truncated);
          assert.equal(stats.malformed, 1);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('replaceInPhpValue: WordPress values', () => {
  const rules = urlReplaceRules('https://old.example', 'https://new.example.org');

  it('rewrites an option array and recounts the length', () => {
    const input = 'a:1:{s:3:"url";s:21:"https://old.example/x";}';
    assert.equal(replaceInPhpValue(input, rules), 'a:1:{s:3:"url";s:25:"https://new.example.org/x";}');
  });

  it('leaves a value with a wrong length unchanged and reports it (wp-cli would break it further)', () => {
    const stats = newRewriteStats();
    const input = 'a:1:{s:3:"url";s:23:"https://old.example/x";}';
    assert.equal(replaceInPhpValue(input, rules, stats), input);
    assert.equal(stats.malformed, 1);
    const truncated = 'a:2:{s:3:"url";s:21:"https://old.example/x";';
    assert.equal(replaceInPhpValue(truncated, rules, stats), truncated);
    assert.equal(stats.malformed, 2);
  });

  it('rewrites a text widget array (HTML with quotes inside a serialized string)', () => {
    const html = '<a href="https://old.example/shop">Shop</a> <img src="//old.example/i.png">';
    const input = `a:2:{i:2;a:3:{s:5:"title";s:4:"Shop";s:4:"text";${sstr(html)}s:6:"filter";b:0;}s:12:"_multiwidget";i:1;}`;
    const html2 = '<a href="https://new.example.org/shop">Shop</a> <img src="//new.example.org/i.png">';
    const stats = newRewriteStats();
    assert.equal(
      replaceInPhpValue(input, rules, stats),
      `a:2:{i:2;a:3:{s:5:"title";s:4:"Shop";s:4:"text";${sstr(html2)}s:6:"filter";b:0;}s:12:"_multiwidget";i:1;}`,
    );
    assert.equal(stats.replacements, 2);
  });

  it('rewrites theme_mods and never touches numbers', () => {
    const mods = (u: string) =>
      `a:5:{i:0;b:0;s:18:"nav_menu_locations";a:1:{s:7:"primary";i:3;}s:12:"header_image";${sstr(`${u}/wp-content/uploads/h.jpg`)}s:18:"custom_css_post_id";i:-1;s:7:"opacity";d:0.1000000000000000055511151231257827;}`;
    assert.equal(replaceInPhpValue(mods('https://old.example'), rules), mods('https://new.example.org'));
  });

  it('counts multibyte characters in bytes', () => {
    const v = 'Café 日本 😀 https://old.example/ü';
    const out = replaceInPhpValue(`a:1:{i:0;${sstr(v)}}`, rules);
    const nv = 'Café 日本 😀 https://new.example.org/ü';
    assert.equal(out, `a:1:{i:0;s:${Buffer.byteLength(nv)}:"${nv}";}`);
    assert.notEqual(Buffer.byteLength(nv), nv.length);
  });

  it('rewrites double-serialized values (a serialized string holding serialized data)', () => {
    const inner = (u: string) => `a:1:{s:4:"link";${sstr(`${u}/p`)}}`;
    assert.equal(replaceInPhpValue(sstr(inner('https://old.example')), rules), sstr(inner('https://new.example.org')));
    const arr = (u: string) => `a:1:{s:4:"data";${sstr(inner(u))}}`;
    assert.equal(replaceInPhpValue(arr('https://old.example'), rules), arr('https://new.example.org'));
  });

  it('keeps class names, private/protected property names and keys exactly', () => {
    const obj = (u: string) =>
      `O:16:"https_old_Widget":3:{${sstr('\0https_old_Widget\0https://old.example')}${sstr(u)}${sstr('\0*\0url')}${sstr(u)}s:19:"https://old.example";i:7;}`;
    assert.equal(replaceInPhpValue(obj('https://old.example/a'), rules), obj('https://new.example.org/a'));
  });

  it('leaves C: payloads, E: enums and references as they are, and counts opaque matches', () => {
    const payload = 'x:i:0;a:1:{i:0;s:19:"https://old.example";};m:a:0:{}';
    const c = `C:11:"ArrayObject":${payload.length}:{${payload}}`;
    const input = `a:4:{i:0;${c}i:1;E:11:"Suit:Hearts";i:2;${sstr('https://old.example')}i:3;r:3;}`;
    const stats = newRewriteStats();
    const out = replaceInPhpValue(input, rules, stats);
    assert.equal(out, `a:4:{i:0;${c}i:1;E:11:"Suit:Hearts";i:2;${sstr('https://new.example.org')}i:3;r:3;}`);
    assert.equal(stats.opaque, 1);
    assert.equal(stats.replacements, 1);
  });

  it('keeps whitespace around a serialized value, plain-replaces plain text', () => {
    assert.equal(replaceInPhpValue(`\n${sstr('https://old.example')} `, rules), `\n${sstr('https://new.example.org')} `);
    assert.equal(
      replaceInPhpValue('<p>see https://old.example/a and i:1; here</p>', rules),
      '<p>see https://new.example.org/a and i:1; here</p>',
    );
  });

  it('treats nesting deeper than the limit as malformed instead of overflowing the stack', () => {
    const depth = MAX_SERIALIZED_DEPTH + 10;
    const input = `${'a:1:{i:0;'.repeat(depth)}${sstr('https://old.example')}${'}'.repeat(depth)}`;
    const stats = newRewriteStats();
    assert.equal(replaceInPhpValue(input, rules, stats), input);
    assert.equal(stats.malformed, 1);
    const ok = `${'a:1:{i:0;'.repeat(50)}${sstr('https://old.example')}${'}'.repeat(50)}`;
    assert.equal(replaceInPhpValue(ok, rules), ok.replace(sstr('https://old.example'), sstr('https://new.example.org')));
  });
});

// ---- differential check against PHP's own unserialize() in the site image ----

function phpImage(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const r = spawnSync('podman', ['images', '--format', '{{.Repository}}:{{.Tag}}'], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  return r.stdout.split('\n').find((l) => l.startsWith('localhost/triplane/php:'));
}

const image = phpImage();
describe('replaceInPhpValue vs PHP unserialize', {
  skip: image ? false : 'needs root and the triplane/php image (podman)',
}, () => {
  it('every rewritten value round-trips through PHP unserialize/serialize byte for byte', () => {
    const samples = fc.sample(pv, { numRuns: 300, seed: 42 }).map((v) => replaceInPhpValue(ser(v), [['OLD', 'nëw-日本']]));
    const dir = mkdtempSync(join(tmpdir(), 'triplane-php-'));
    try {
      writeFileSync(join(dir, 'in.json'), JSON.stringify(samples.map((s) => Buffer.from(s, 'utf8').toString('base64'))));
      const code =
        '$bad = 0; foreach (json_decode(file_get_contents("/x/in.json")) as $b) { $s = base64_decode($b); $v = @unserialize($s); if (($v === false && $s !== "b:0;") || serialize($v) !== $s) { $bad++; fwrite(STDERR, $s . "\\n"); } } echo $bad;';
      const r = spawnSync(
        'podman',
        ['run', '--rm', '--pull=never', '--network', 'none', '-v', `${dir}:/x:ro`, image!, 'php', '-r', code],
        {
          encoding: 'utf8',
          timeout: 120_000,
        },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), '0', r.stderr.slice(0, 2000));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
