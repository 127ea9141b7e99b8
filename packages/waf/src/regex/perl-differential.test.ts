/**
 * Differential check of the PCRE → JS translation against Perl (whose regex dialect PCRE
 * follows): every CRS @rx pattern, on byte strings drawn from the CRS regression corpus, must
 * match in JS exactly when it matches in Perl with /s. Inputs ending in a newline are left out
 * (Perl's `$` also matches before a final newline; ModSecurity's DOLLAR_ENDONLY does not).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { readConfigText } from '../config/reader.ts';
import { buildFtwRequest } from '../conformance/ftw-request.ts';
import { compileRuleSet } from '../engine/compile.ts';
import { transformations } from '../transformations/registry.ts';
import { compilePcre } from './compile.ts';

const CRS = '/usr/share/modsecurity-crs/rules';
const CORPUS = path.resolve(import.meta.dirname, '../../../../../shared/data/crs-tests');
const PERL = '/usr/bin/perl';
const ready = fs.existsSync(CRS) && fs.existsSync(CORPUS) && fs.existsSync(PERL);

// reads hex-encoded patterns and inputs, prints one line of 0/1 per pattern
const SCRIPT = `
use strict; no warnings;
my @lines = <STDIN>; chomp @lines;
my $np = shift @lines;
my @pats = map { pack('H*', $_) } splice(@lines, 0, $np);
my @inputs = map { pack('H*', $_) } @lines;
for my $p (@pats) {
  my $re = eval { qr/$p/s };
  if (!defined $re) { print "ERR\\n"; next; }
  print join('', map { $_ =~ $re ? '1' : '0' } @inputs), "\\n";
}
`;

test('translated CRS patterns agree with Perl on the regression corpus', {
  skip: !ready && 'perl, CRS or corpus missing',
}, () => {
  const rs = compileRuleSet(readConfigText(`Include ${CRS}/*.conf\n`, '/x.conf'));
  const patterns = new Set<string>();
  for (const r of rs.byId.values())
    for (let l: typeof r | undefined = r; l; l = l.chain)
      if (l.opName === 'rx' && !l.opParam.includes('%{')) patterns.add(l.opParam);
  const dec = transformations.get('urldecodeuni')!;
  const low = transformations.get('lowercase')!;
  const inputs: string[] = [];
  let n = 0;
  for (const dir of fs.readdirSync(CORPUS).sort()) {
    const d = path.join(CORPUS, dir);
    if (!fs.statSync(d).isDirectory()) continue;
    for (const f of fs.readdirSync(d).sort()) {
      for (const t of YAML.parse(fs.readFileSync(path.join(d, f), 'utf8')).tests ?? [])
        for (const st of t.stages ?? []) {
          if (n++ % 3 !== 0) continue;
          try {
            const raw = buildFtwRequest(st.stage.input ?? {}).toString('latin1');
            const q = raw.split('\r\n')[0] ?? '';
            const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
            for (const s of [q, dec.apply(q), low.apply(dec.apply(body))]) if (s !== '' && !s.endsWith('\n')) inputs.push(s);
          } catch {}
        }
    }
  }
  const pats = [...patterns];
  const stdin = [
    String(pats.length),
    ...pats.map((p) => Buffer.from(p, 'latin1').toString('hex')),
    ...inputs.map((s) => Buffer.from(s, 'latin1').toString('hex')),
  ].join('\n');
  const out = spawnSync(PERL, ['-e', SCRIPT], { input: stdin, maxBuffer: 1 << 28, encoding: 'latin1' });
  assert.equal(out.status, 0, out.stderr);
  const rows = out.stdout.split('\n');
  const diffs: string[] = [];
  let compared = 0;
  pats.forEach((p, i) => {
    const row = rows[i]!;
    if (row === 'ERR') return; // Perl-only syntax limits, none expected
    const re = compilePcre(p).re;
    inputs.forEach((s, k) => {
      compared++;
      const js = re.test(s);
      if (js !== (row[k] === '1')) diffs.push(`${p.slice(0, 60)} on ${JSON.stringify(s.slice(0, 60))}: js=${js}`);
    });
  });
  assert.ok(compared > 100_000, `only ${compared} comparisons`);
  assert.deepEqual(diffs.slice(0, 10), []);
});
