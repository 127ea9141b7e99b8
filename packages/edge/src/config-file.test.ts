import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isTriplaneError } from '@triplane/kernel';
import * as YAML from 'yaml';
import { loadConfigFile, parseFieldName, parseJsonConfig, yamlConfigParser } from './config-file.ts';
import { startEdge } from './server.ts';
import { httpGet, startOrigin } from './testing.ts';

const dir = mkdtempSync(join(tmpdir(), 'triplane-edge-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const yaml = yamlConfigParser(YAML);

function write(name: string, lines: string[] | string): string {
  const file = join(dir, name);
  writeFileSync(file, Array.isArray(lines) ? `${lines.join('\n')}\n` : lines);
  return file;
}

/** The TRIPLANE_ERR_CONFIG a load throws: message and details. */
function loadError(file: string): { message: string; details: { file: string; line?: number; field?: string; reason: string } } {
  try {
    loadConfigFile(file, { yaml });
  } catch (e) {
    assert.ok(isTriplaneError(e), String(e));
    assert.equal(e.code, 'TRIPLANE_ERR_CONFIG');
    return { message: e.message, details: e.details as never };
  }
  assert.fail(`${file} loaded`);
}

const GOOD_YAML = [
  'listen: { http: "127.0.0.1:0" }', // 1
  'sites:', // 2
  '  - name: shop', // 3
  '    hosts: [shop.example.test]', // 4
  '    upstreams:', // 5
  '      - "http://127.0.0.1:9001"', // 6
  '      - "http://127.0.0.1:9002"', // 7
  '    cache: { profile: wordpress }', // 8
  '    compression: { brotli: false, minBytes: 2048 }', // 9
  '    static: { maxAgeS: 31536000, immutable: true, extensions: [css, .JS] }', // 10
];

describe('config file: YAML with file and line in every error', () => {
  test('a valid file loads with compression/static fields resolved', () => {
    const cfg = loadConfigFile(write('good.yaml', GOOD_YAML), { yaml });
    const s = cfg.sites[0]!;
    assert.deepEqual(s.compression, { gzip: true, brotli: false, minBytes: 2048 });
    assert.deepEqual(s.static, { maxAgeS: 31536000, immutable: true, extensions: ['css', 'js'] });
  });

  test('schema error: the line of the bad list item, the field, the reason', () => {
    const lines = [...GOOD_YAML];
    lines[6] = '      - "ftp://127.0.0.1:9002"';
    const file = write('edge.yaml', lines);
    const e = loadError(file);
    assert.equal(e.message, `${file}:7: sites[0].upstreams[1]: expected http://host:port`);
    assert.deepEqual(
      { file: e.details.file, line: e.details.line, field: e.details.field, reason: e.details.reason },
      { file, line: 7, field: 'sites[0].upstreams[1]', reason: 'expected http://host:port' },
    );
  });

  test('type errors, unknown fields and missing fields point at the right line', () => {
    const bad = (i: number, line: string) => {
      const lines = [...GOOD_YAML];
      lines[i] = line;
      return loadError(write(`t${i}.yaml`, lines));
    };
    const profile = bad(7, '    cache: { profile: varnish }');
    assert.equal(profile.details.line, 8);
    assert.equal(profile.details.field, 'sites[0].cache.profile');
    const unknown = bad(8, '    compresion: { gzip: true }');
    assert.equal(unknown.details.line, 9);
    assert.match(unknown.message, /:9: sites\[0\]/);
    const type = bad(9, '    static: { maxAgeS: "a year" }');
    assert.equal(type.details.line, 10);
    assert.equal(type.details.field, 'sites[0].static.maxAgeS');
    // a missing required field: the line of the object it is missing from
    const lines = GOOD_YAML.filter((_, i) => i !== 2);
    lines[2] = '  - hosts: [shop.example.test]';
    const missing = loadError(write('missing.yaml', lines));
    assert.equal(missing.details.field, 'sites[0].name');
    assert.equal(missing.details.line, 3);
  });

  test('semantic error (a host claimed twice) → the line of the second claim', () => {
    const file = write('dup.yaml', [
      ...GOOD_YAML,
      '  - name: blog', // 11
      '    hosts:', // 12
      '      - blog.example.test', // 13
      '      - Shop.Example.Test', // 14
      '    upstreams: ["http://127.0.0.1:9003"]', // 15
    ]);
    const e = loadError(file);
    assert.equal(e.details.line, 14);
    assert.equal(e.message, `${file}:14: sites[1].hosts[1]: host shop.example.test already belongs to site shop`);
  });

  test('syntax errors: bad indentation, unclosed flow, duplicate keys', () => {
    const indent = loadError(write('indent.yaml', ['listen: { http: "127.0.0.1:0" }', 'sites:', '  - name: a', '   hosts: [x]']));
    assert.equal(indent.details.line, 4);
    assert.match(indent.message, /indent\.yaml:4: YAML syntax: /);
    assert.equal(indent.details.field, undefined);
    const flow = loadError(write('flow.yaml', ['listen: { http: "127.0.0.1:0" }', 'sites: [', '  { name: a, hosts: [x] ']));
    assert.match(flow.message, /flow\.yaml:\d+: YAML syntax: /);
    assert.ok((flow.details.line ?? 0) >= 2);
    const dup = loadError(
      write('dupkey.yaml', ['listen: { http: "127.0.0.1:0" }', 'sites: []', 'listen: { http: "127.0.0.1:1" }']),
    );
    assert.equal(dup.details.line, 3);
    assert.match(dup.details.reason, /unique/i);
  });

  test('alias bombs are refused, not expanded', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 8; i++) {
      const prev = String.fromCharCode(97 + i);
      bomb.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${prev}`).join(', ')}]`);
    }
    const e = loadError(write('bomb.yaml', bomb));
    assert.match(e.message, /YAML syntax: .*alias/i);
  });

  test('no YAML parser installed, unreadable file', () => {
    const file = write('x.yml', GOOD_YAML);
    assert.throws(() => loadConfigFile(file), /x\.yml: YAML syntax: YAML support is not installed/);
    assert.throws(
      () => loadConfigFile(join(dir, 'nope.json')),
      (e: unknown) => {
        assert.ok(isTriplaneError(e) && e.code === 'TRIPLANE_ERR_CONFIG');
        assert.match(e.message, /nope\.json: cannot read/);
        return true;
      },
    );
  });
});

describe('config file: JSON with lines', () => {
  const json = (cfg: unknown) => JSON.stringify(cfg, null, 2);
  const good = {
    listen: { http: '127.0.0.1:0' },
    sites: [{ name: 'shop', hosts: ['shop.example.test'], upstreams: ['http://127.0.0.1:9001', 'http://127.0.0.1:9002'] }],
  };

  test('syntax errors name the line (V8 does not always give a position)', () => {
    const cases: Array<[string, number, RegExp]> = [
      ['{\n  "listen": {},\n}\n', 3, /expected a double-quoted property name/],
      ['{\n  "listen": {}\n  "sites": []\n}\n', 3, /expected ',' or '}'/],
      ['{\n  "listen": {\n    "http": tru\n  }\n}\n', 3, /expected a value/],
      ['{\n  "sites": [1, 2\n', 3, /unexpected end of input|expected ','/],
      ['{\n  "a": "line\nbreak"\n}', 2, /control character/],
      ['{}\n\n x', 3, /unexpected data/],
    ];
    cases.forEach(([text, line, reason], i) => {
      const file = write(`syntax${i}.json`, text);
      const e = loadError(file);
      assert.equal(e.details.line, line, text);
      assert.match(e.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}: JSON syntax: `));
      assert.match(e.details.reason, reason, text);
    });
  });

  test('schema and semantic errors name the line of the field', () => {
    const c1 = structuredClone(good);
    c1.sites[0]!.upstreams[1] = 'http://127.0.0.1:9002/path';
    const f1 = write('schema.json', json(c1));
    const e1 = loadError(f1);
    assert.equal(e1.message, `${f1}:13: sites[0].upstreams[1]: expected http://host:port`);
    const c2 = { ...good, sites: [...good.sites, { name: 'shop', hosts: ['b.example.test'], upstreams: [] }] };
    const e2 = loadError(write('semantic.json', json(c2)));
    assert.equal(e2.details.field, 'sites[1].name');
    assert.equal(e2.details.line, 17);
    const e3 = loadError(write('root.json', '[1]'));
    assert.equal(e3.details.line, 1);
  });

  test('a BOM is accepted; lineOf walks up to the nearest present ancestor; field names parse', () => {
    const f = write('bom.json', `\ufeff${json(good)}`);
    assert.equal(loadConfigFile(f).sites[0]?.name, 'shop');
    const doc = parseJsonConfig(json(good));
    assert.equal(doc.lineOf(['sites', 0, 'upstreams', 1]), 13);
    assert.equal(doc.lineOf(['sites', 0, 'missing', 3]), 6);
    assert.equal(doc.lineOf([]), 1);
    assert.deepEqual(parseFieldName('sites[0].upstreams[12]'), ['sites', 0, 'upstreams', 12]);
    assert.deepEqual(parseFieldName('listen.http'), ['listen', 'http']);
    assert.deepEqual(parseFieldName('(root)'), []);
  });
});

describe('config file: a bad reload keeps the old config serving', () => {
  test('edit → bad file rejected with its line, old sites still answer; fixed file swaps in', async () => {
    const one = await startOrigin((_s, res) => res.end('one'));
    const two = await startOrigin((_s, res) => res.end('two'));
    const site = (url: string) => [
      'listen: { http: "127.0.0.1:0" }',
      'sites:',
      '  - name: shop',
      '    hosts: [shop.example.test]',
      `    upstreams: ["${url}"]`,
    ];
    const file = write('reload.yaml', site(one.url));
    const edge = await startEdge({ config: loadConfigFile(file, { yaml }) });
    const reload = () => edge.reload(loadConfigFile(file, { yaml }));
    const get = async () => (await httpGet(edge.address.port, '/', { host: 'shop.example.test' })).body;
    try {
      assert.equal(await get(), 'one');
      write('reload.yaml', [...site(two.url), '    retries: lots']);
      assert.throws(reload, /reload\.yaml:6: sites\[0\]\.retries: /);
      assert.equal(await get(), 'one');
      write('reload.yaml', [...site(two.url).slice(0, 4), '    upstreams: ["http://127.0.0.1:1"'].join('\n'));
      assert.throws(reload, /reload\.yaml:\d+: YAML syntax: /);
      assert.equal(await get(), 'one');
      write('reload.yaml', site(two.url));
      reload();
      assert.equal(await get(), 'two');
    } finally {
      await edge.close();
      await one.close();
      await two.close();
    }
  });
});
