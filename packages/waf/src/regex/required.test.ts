import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { readConfigText } from '../config/reader.ts';
import { buildFtwRequest } from '../conformance/ftw-request.ts';
import { compileRuleSet } from '../engine/compile.ts';
import { transformations } from '../transformations/registry.ts';
import { compilePcre } from './compile.ts';
import { hasAnyByte, requiredOf } from './required.ts';

const req = (p: string) => {
  const c = compilePcre(p);
  return {
    min: c.minLength,
    bytes: c.requiredBytes ? String.fromCharCode(...[...c.requiredBytes].flatMap((v, i) => (v ? [i] : []))) : undefined,
  };
};

test('minimum length and required bytes of translated patterns', () => {
  assert.deepEqual(req('[<>][a-z]+='), { min: 3, bytes: '=' });
  assert.deepEqual(req('a|bc'), { min: 1, bytes: 'ab' });
  assert.deepEqual(req('(?i)on\\w+\\s*='), { min: 4, bytes: '=' });
  assert.deepEqual(req('x?y*'), { min: 0, bytes: undefined });
  assert.deepEqual(req('(?=abc)d'), { min: 1, bytes: 'd' });
  assert.deepEqual(req('a{3,5}'), { min: 3, bytes: 'a' });
  assert.deepEqual(req('[^a]'), { min: 1, bytes: undefined });
  assert.deepEqual(req('(a)\\1'), { min: 1, bytes: 'a' });
  // anything not understood requires nothing
  assert.deepEqual(requiredOf('\\k<x>a', 's'), { minLength: 0, bytes: undefined });
  assert.deepEqual(requiredOf('abc', 'si'), { minLength: 0, bytes: undefined });
  assert.equal(hasAnyByte('ab=c', requiredOf('=', 's').bytes!), true);
  assert.equal(hasAnyByte('abc\u0100', requiredOf('=', 's').bytes!), false);
});

const CRS = '/usr/share/modsecurity-crs/rules';
const CORPUS = path.resolve(import.meta.dirname, '../../../../../shared/data/crs-tests');

test('minimum length and required bytes hold for every CRS match on the regression corpus', {
  skip: !(fs.existsSync(CRS) && fs.existsSync(CORPUS)) && 'CRS or corpus missing',
}, () => {
  const rs = compileRuleSet(readConfigText(`Include ${CRS}/*.conf\n`, '/x.conf'));
  const patterns = new Set<string>();
  for (const r of rs.byId.values())
    for (let l: typeof r | undefined = r; l; l = l.chain)
      if (l.opName === 'rx' && !l.opParam.includes('%{')) patterns.add(l.opParam);
  const inputs: string[] = [];
  const dec = transformations.get('urldecodeuni')!;
  for (const dir of fs.readdirSync(CORPUS)) {
    const d = path.join(CORPUS, dir);
    if (!fs.statSync(d).isDirectory()) continue;
    for (const f of fs.readdirSync(d)) {
      const doc = YAML.parse(fs.readFileSync(path.join(d, f), 'utf8'));
      for (const t of doc.tests ?? [])
        for (const st of t.stages ?? []) {
          try {
            const raw = buildFtwRequest(st.stage.input ?? {}).toString('latin1');
            inputs.push(raw, dec.apply(raw));
          } catch {}
        }
    }
  }
  let checked = 0;
  let filtering = 0;
  for (const p of patterns) {
    const c = compilePcre(p);
    if (c.minLength > 0 || c.requiredBytes) filtering++;
    const g = new RegExp(c.re.source, c.re.flags + 'g');
    for (const s of inputs) {
      // every match (not only the first) must meet the conditions on its own text
      g.lastIndex = 0;
      for (let m = g.exec(s), k = 0; m && k < 20; m = g.exec(s), k++) {
        if (m[0] === '') g.lastIndex++;
        checked++;
        assert.ok(m[0].length >= c.minLength, `min length ${c.minLength} of ${p.slice(0, 80)} > match ${JSON.stringify(m[0])}`);
        if (c.requiredBytes)
          assert.ok(hasAnyByte(m[0], c.requiredBytes), `required bytes of ${p.slice(0, 80)} miss ${JSON.stringify(m[0])}`);
      }
    }
  }
  assert.ok(filtering > 200, `only ${filtering} patterns get a condition`);
  assert.ok(checked > 500, `only ${checked} matches checked`);
});
