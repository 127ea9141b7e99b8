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

test('what prefilters remember across transactions stays exact past the memo bounds', () => {
  const text = [
    'SecRuleEngine On',
    'SecRule ARGS "@rx union\\s+select" "id:1,phase:2,deny,t:none,t:urlDecodeUni,t:lowercase"',
    'SecRule ARGS|ARGS_NAMES "@pm evil badword" "id:2,phase:2,pass,log,t:none,t:urlDecodeUni,t:base64Decode,multiMatch"',
    'SecRule REQUEST_HEADERS "@contains <script" "id:3,phase:1,pass,log,t:none,t:htmlEntityDecode"',
    'SecRule ARGS "@detectSQLi" "id:4,phase:2,pass,log,t:none"',
  ].join('\n');
  const fast = Waf.fromText(text, 'memo.conf');
  const plain = Waf.fromText(text, 'memo.conf');
  for (const r of plain.rules.byId.values()) r.prefilter = undefined;
  const run = (w: Waf, i: number, value: string) => {
    const tx = w.transaction({
      method: 'GET',
      uri: `/p?a${i % 50}=${encodeURIComponent(value)}`,
      protocol: 'HTTP/1.1',
      headers: [['X-Note', i % 3 === 0 ? '&lt;script&gt;' : `note ${i % 5000}`]],
      remoteAddr: '192.0.2.1',
      uniqueId: String(i),
    });
    tx.processRequestHeaders();
    tx.processRequestBody();
    return tx.events.map((e) => e.ruleId).join(',');
  };
  const attacks = ['1 UNION  SELECT 2', 'ZXZpbA==', "1' or '1'='1", 'badword', 'ok'];
  let hits = 0;
  // 3 rounds over 6000 distinct values: the memos (4096 values) fill, are dropped, fill again
  for (let round = 0; round < 3; round++)
    for (let i = 0; i < 6000; i++) {
      const v = i % 4 === 0 ? attacks[(i >> 2) % attacks.length]! : `v${i}x${round % 2}`;
      const got = run(fast, i, v);
      assert.equal(got, run(plain, i, v), `${round} ${i} ${v}`);
      if (got !== '') hits++;
    }
  assert.ok(hits > 5000, `attacks matched: ${hits}`);
});
