/**
 * Compile-time folding of constant TX conditions (fold.ts): what folds, what must not, and that
 * a folded rule set behaves exactly like the unfolded one.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import YAML from 'yaml';
import { readConfigFile, readConfigText } from '../config/reader.ts';
import { buildFtwRequest } from '../conformance/ftw-request.ts';
import { parseHttpRequest } from '../conformance/http-parse.ts';
import { compileRuleSet } from './compile.ts';
import type { Rule } from './model.ts';
import type { RequestInput } from './transaction.ts';
import { Waf } from './waf.ts';

const BASE = 'SecRuleEngine On\nSecDefaultAction "phase:1,log,auditlog,pass"\nSecDefaultAction "phase:2,log,auditlog,pass"\n';

/** The same rules compiled with and without folding. */
function pair(rules: string): { folded: Waf; plain: Waf } {
  const dirs = () => readConfigText(BASE + rules, '/test/fold.conf');
  return { folded: new Waf(compileRuleSet(dirs())), plain: new Waf(compileRuleSet(dirs(), { fold: false })) };
}

function req(uri: string): RequestInput {
  return { method: 'GET', uri, protocol: 'HTTP/1.1', headers: [['Host', 'example.com']], remoteAddr: '192.0.2.1', uniqueId: 'f' };
}

function fired(w: Waf, r: RequestInput): number[] {
  const tx = w.transaction(r);
  tx.processRequestHeaders() ?? tx.processRequestBody();
  tx.processLogging();
  return tx.events.map((e) => e.ruleId);
}

function rule(w: Waf, id: number): Rule {
  const r = w.rules.byId.get(id);
  assert.ok(r, `rule ${id}`);
  return r;
}

const inPhase = (w: Waf, id: number) => w.rules.phases.some((p) => p.some((r) => r.id === id && r.marker === undefined));

// a paranoia-level block as CRS writes it: a configured level, the executing level copied from
// it by an init rule, and a guard skipping the PL2 rules
const LEVELS = `
SecAction "id:1,phase:1,pass,nolog,setvar:tx.paranoia_level=1"
SecRule &TX:executing_paranoia_level "@eq 0" "id:2,phase:1,pass,nolog,setvar:'tx.executing_paranoia_level=%{TX.PARANOIA_LEVEL}'"
`;
const BLOCK = `
SecRule TX:EXECUTING_PARANOIA_LEVEL "@lt 1" "id:10,phase:2,pass,nolog,skipAfter:END-PL"
SecRule ARGS "@contains attack" "id:11,phase:2,pass,log,msg:'PL1 rule'"
SecRule TX:EXECUTING_PARANOIA_LEVEL "@lt 2" "id:12,phase:2,pass,nolog,skipAfter:END-PL"
SecRule ARGS "@contains attack" "id:13,phase:2,pass,log,msg:'PL2 rule'"
SecMarker "END-PL"
`;

describe('compile-time folding', () => {
  test('constant paranoia-level guards fold; the PL2 block is dropped at PL1', () => {
    const { folded, plain } = pair(LEVELS + BLOCK);
    assert.equal(rule(folded, 2).folded, 'always');
    assert.equal(rule(folded, 10).folded, 'never');
    assert.equal(rule(folded, 12).folded, 'always');
    assert.equal(inPhase(folded, 10), false, 'a rule that never matches is dropped');
    assert.equal(inPhase(folded, 13), false, 'a rule no transaction reaches is dropped');
    assert.equal(inPhase(plain, 13), true);
    for (const uri of ['/?a=attack', '/?a=benign', '/']) assert.deepEqual(fired(folded, req(uri)), fired(plain, req(uri)), uri);
    assert.deepEqual(fired(folded, req('/?a=attack')), [11]);
  });

  test('a TX value another rule changes at run time is not folded', () => {
    // rule 5 raises the level for some requests only: the guards must stay dynamic
    const { folded, plain } = pair(
      `${LEVELS}SecRule ARGS:pl "@streq 2" "id:5,phase:1,pass,nolog,setvar:tx.executing_paranoia_level=2"\n${BLOCK}`,
    );
    assert.equal(rule(folded, 12).folded, undefined);
    assert.equal(inPhase(folded, 13), true);
    assert.equal(rule(folded, 10).folded, undefined);
    assert.deepEqual(fired(folded, req('/?a=attack&pl=2')), [11, 13]);
    assert.deepEqual(fired(folded, req('/?a=attack')), [11]);
    for (const uri of ['/?a=attack&pl=2', '/?a=attack', '/?pl=2'])
      assert.deepEqual(fired(folded, req(uri)), fired(plain, req(uri)), uri);
  });

  test('a setvar whose name is a macro may write any matching TX variable: no folding', () => {
    const { folded } = pair(`${LEVELS}SecRule ARGS:n "@rx ." "id:5,phase:1,pass,nolog,setvar:'tx.%{MATCHED_VAR}=2'"\n${BLOCK}`);
    assert.equal(rule(folded, 12).folded, undefined);
    assert.deepEqual(fired(folded, req('/?a=attack&n=executing_paranoia_level')), [11, 13]);
    // a macro name that cannot spell the variable leaves the folding in place
    const other = pair(`${LEVELS}SecRule ARGS:n "@rx ." "id:5,phase:1,pass,nolog,setvar:'tx.%{MATCHED_VAR}-suffix=2'"\n${BLOCK}`);
    assert.equal(rule(other.folded, 12).folded, 'always');
  });

  test('a setter a runtime ctl may remove makes the value unknown', () => {
    // rule 3 removes the init rule for some requests: the executing level then stays unset
    const { folded, plain } = pair(
      `SecRule ARGS:off "@streq 1" "id:3,phase:1,pass,nolog,ctl:ruleRemoveById=2"\n${LEVELS}${BLOCK}`,
    );
    assert.equal(rule(folded, 12).folded, undefined);
    assert.deepEqual(fired(folded, req('/?a=attack&off=1')), [11, 13]);
    for (const uri of ['/?a=attack&off=1', '/?a=attack']) assert.deepEqual(fired(folded, req(uri)), fired(plain, req(uri)), uri);
    // CRS's test marker removes every rule: the transactions it does not fire in still fold
    const marker = pair(
      `SecRule ARGS:marker "@rx ." "id:999999,phase:1,pass,nolog,ctl:ruleRemoveById=1-999999"\n${LEVELS}${BLOCK}`,
    );
    assert.equal(rule(marker.folded, 12).folded, 'always');
    for (const uri of ['/?a=attack&marker=1', '/?a=attack'])
      assert.deepEqual(fired(marker.folded, req(uri)), fired(marker.plain, req(uri)), uri);
  });

  test('skip:N still skips the same rules after dropped rules are pruned', () => {
    const { folded, plain } = pair(`${LEVELS}
SecRule ARGS:s "@streq 1" "id:20,phase:2,pass,nolog,skip:2"
SecRule TX:paranoia_level "@eq 4" "id:21,phase:2,pass,log,msg:'never'"
SecRule ARGS "@contains x" "id:22,phase:2,pass,log,msg:'skipped when s=1'"
SecRule ARGS "@contains x" "id:23,phase:2,pass,log,msg:'always evaluated'"
`);
    assert.equal(rule(folded, 21).folded, 'never');
    assert.equal(inPhase(folded, 21), false);
    for (const uri of ['/?s=1&v=x', '/?v=x']) assert.deepEqual(fired(folded, req(uri)), fired(plain, req(uri)), uri);
    assert.deepEqual(fired(folded, req('/?s=1&v=x')), [23]);
  });

  test('allow:request carries its state into phase 3', () => {
    const { folded, plain } = pair(`SecAction "id:1,phase:1,pass,nolog,setvar:tx.level=1"
SecRule ARGS:a "@streq 1" "id:2,phase:1,allow:request,setvar:tx.level=2"
SecRule TX:level "@eq 2" "id:3,phase:3,pass,log,msg:'after allow'"
SecRule TX:level "@eq 2" "id:4,phase:2,pass,log,msg:'allow is only enforced in On mode'"
`);
    assert.equal(rule(folded, 3).folded, undefined);
    assert.equal(rule(folded, 4).folded, undefined);
    for (const uri of ['/?a=1', '/']) {
      const run = (w: Waf) => {
        const tx = w.transaction(req(uri));
        tx.processRequestHeaders();
        tx.processRequestBody();
        tx.processResponseHeaders({ status: 200, headers: [] });
        tx.processLogging();
        return tx.events.map((e) => e.ruleId);
      };
      assert.deepEqual(run(folded), run(plain), uri);
    }
  });
});

const profiles = path.resolve(import.meta.dirname, '../../../../../shared/tools/crs-ftw/profiles');
const corpus = path.resolve(import.meta.dirname, '../../../../../shared/data/crs-tests');
const ready = fs.existsSync(corpus) && fs.existsSync('/usr/share/modsecurity-crs/rules');

test('CRS PL1: folded and unfolded engines agree on the regression corpus', { skip: !ready && 'corpus or CRS missing' }, () => {
  const dirs = () =>
    readConfigFile(path.join(profiles, 'crs-pl1.conf'), { rewritePath: (p) => p.replace('PROFILE_DIR', profiles) });
  const folded = new Waf(compileRuleSet(dirs()));
  const plain = new Waf(compileRuleSet(dirs(), { fold: false }));
  assert.ok(folded.rules.foldStats.always > 50 && folded.rules.foldStats.dead > 200, JSON.stringify(folded.rules.foldStats));
  let n = 0;
  let compared = 0;
  for (const dir of fs.readdirSync(corpus).sort()) {
    const d = path.join(corpus, dir);
    if (!fs.statSync(d).isDirectory()) continue;
    for (const f of fs.readdirSync(d).sort())
      for (const t of YAML.parse(fs.readFileSync(path.join(d, f), 'utf8')).tests ?? [])
        for (const st of t.stages ?? []) {
          if (n++ % 3 !== 0) continue;
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
            return tx.events.map((e) => `${e.ruleId} ${e.match} ${e.msg} ${e.data}`);
          };
          assert.deepEqual(events(folded), events(plain), String(t.test_title));
          compared++;
        }
  }
  assert.ok(compared > 400, `only ${compared} requests compared`);
});
