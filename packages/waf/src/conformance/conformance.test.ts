/**
 * CRS 3.3 regression corpus through the engine with the CI profile (paranoia 4,
 * DetectionOnly, marker rule). Runs when the corpus and Debian's CRS are present.
 * The bar is the anchor's 97.8% (nginx + libmodsecurity3 on the same tests).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Waf } from '../engine/waf.ts';
import { formatReport, runConformance } from './runner.ts';

const shared = path.resolve(import.meta.dirname, '../../../../../shared');
const profiles = path.join(shared, 'tools/crs-ftw/profiles');
const corpus = path.join(shared, 'data/crs-tests');
const present = fs.existsSync(corpus) && fs.existsSync(profiles) && fs.existsSync('/usr/share/modsecurity-crs/rules');
const subst = (p: string) =>
  p.replaceAll('PROFILE_DIR', profiles).replaceAll('LOG_DIR', os.tmpdir()).replaceAll('RUN_DIR', os.tmpdir());

test('CRS regression tests, CI profile: at least the anchor pass rate', {
  skip: !present && 'CRS corpus or modsecurity-crs missing',
}, () => {
  const waf = Waf.fromFile(path.join(profiles, 'crs-test.conf'), { rewritePath: subst });
  const rep = runConformance(waf, corpus);
  const rate = (100 * rep.total.pass) / (rep.total.pass + rep.total.fail);
  console.log(formatReport(rep));
  assert.ok(rep.total.pass + rep.total.fail > 1000, 'corpus too small');
  assert.ok(rate >= 97.8, `pass rate ${rate.toFixed(1)}% below 97.8%`);
});

test('negative control: the marker rule alone fails the corpus', { skip: !present && 'CRS corpus missing' }, () => {
  const waf = Waf.fromText(
    `SecRuleEngine DetectionOnly\nInclude ${path.join(profiles, 'crs-test-marker.conf')}\n`,
    '/control.conf',
  );
  const rep = runConformance(waf, corpus, '942');
  assert.ok(rep.total.fail > rep.total.pass, `marker-only profile passed ${rep.total.pass}/${rep.total.pass + rep.total.fail}`);
});
