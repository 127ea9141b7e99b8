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
import { prefilterFor } from './prefilter.ts';

test('prefilter literals: required substrings, case-folded', () => {
  assert.deepEqual(prefilterFor(translated('(?i)union\\s+select')), ['select']);
  assert.deepEqual(prefilterFor(translated('a(?:bc|de)f')), ['abcf', 'adef']);
  assert.equal(prefilterFor(translated('a?b*')), undefined);
  assert.equal(prefilterFor(translated('[a-z]+')), undefined);
  assert.deepEqual(prefilterFor(translated('(?=x)foo')), ['foo']);
});

function translated(p: string): string {
  return compilePcre(p).re.source;
}

const CRS = '/usr/share/modsecurity-crs/rules';
const CORPUS = path.resolve(import.meta.dirname, '../../../../../shared/data/crs-tests');

test('prefilter is sound on every CRS pattern against the regression corpus', {
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
  assert.ok(inputs.length > 1000);
  let checked = 0;
  for (const p of patterns) {
    const c = compilePcre(p);
    if (!c.prefilter) continue;
    for (const s of inputs) {
      if (!c.re.test(s)) continue;
      checked++;
      const l = s.toLowerCase();
      assert.ok(
        c.prefilter.some((x) => l.includes(x)),
        `prefilter of ${p.slice(0, 80)} rejects a matching input`,
      );
    }
  }
  assert.ok(checked > 500, `only ${checked} matches checked`);
});
