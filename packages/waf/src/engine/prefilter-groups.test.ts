/**
 * Rule-level prefiltering must never change what the engine does: over the CRS regression
 * corpus (PL4, every rule), events with and without prefilters are identical, while the
 * number of operator evaluations drops.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { readConfigFile } from '../config/reader.ts';
import { buildFtwRequest } from '../conformance/ftw-request.ts';
import { parseHttpRequest } from '../conformance/http-parse.ts';
import { compileRuleSet } from './compile.ts';
import { LiteralScanner } from './literal-scan.ts';
import { Waf } from './waf.ts';

test('literal scanner reports every literal, overlapping ones included', () => {
  const s = new LiteralScanner(['he', 'she', 'hers', 'his', 'x']);
  const found = new Uint8Array(5);
  s.scan('ushers', found);
  assert.deepEqual([...found], [1, 1, 1, 0, 0]);
});

const profiles = path.resolve(import.meta.dirname, '../../../../../shared/tools/crs-ftw/profiles');
const corpus = path.resolve(import.meta.dirname, '../../../../../shared/data/crs-tests');
const ready = fs.existsSync(corpus) && fs.existsSync('/usr/share/modsecurity-crs/rules');

test('prefiltered and unfiltered engines agree on the CRS corpus', { skip: !ready && 'corpus or CRS missing' }, () => {
  const dirs = () =>
    readConfigFile(path.join(profiles, 'crs-test.conf'), { rewritePath: (p) => p.replace('PROFILE_DIR', profiles) });
  const fast = new Waf(compileRuleSet(dirs()));
  // the plain engine also skips compile-time folding (fold.ts): every rule is evaluated
  const plain = new Waf(compileRuleSet(dirs(), { fold: false }));
  let evals = 0;
  let plainEvals = 0;
  for (const [w, count] of [
    [fast, () => evals++],
    [plain, () => plainEvals++],
  ] as const) {
    for (const r of w.rules.byId.values())
      for (let l: typeof r | undefined = r; l; l = l.chain) {
        if (w === plain) l.prefilter = undefined;
        const op = l.op;
        l.op = (v, t) => {
          count();
          return op(v, t);
        };
      }
  }
  let n = 0;
  let compared = 0;
  for (const dir of fs.readdirSync(corpus).sort()) {
    const d = path.join(corpus, dir);
    if (!fs.statSync(d).isDirectory()) continue;
    for (const f of fs.readdirSync(d).sort())
      for (const t of YAML.parse(fs.readFileSync(path.join(d, f), 'utf8')).tests ?? [])
        for (const st of t.stages ?? []) {
          if (n++ % 2 !== 0) continue;
          let raw: Buffer;
          try {
            raw = buildFtwRequest(st.stage.input ?? {});
          } catch {
            continue;
          }
          const p = parseHttpRequest(raw, '127.0.0.1', 'id');
          if (!p.ok) continue;
          const events = (w: Waf) => {
            const tx = w.transaction(p.request);
            tx.processRequestHeaders();
            tx.processRequestBody();
            tx.processResponseHeaders({ status: 200, headers: [['Content-Type', 'text/html']], body: 'ok' });
            tx.processResponseBody();
            tx.processLogging();
            return tx.events.map((e) => `${e.ruleId} ${e.match}`);
          };
          assert.deepEqual(events(fast), events(plain), String(t.test_title));
          compared++;
        }
  }
  assert.ok(compared > 500);
  assert.ok(evals < plainEvals * 0.8, `prefilter saved too little: ${evals} vs ${plainEvals}`);
});
