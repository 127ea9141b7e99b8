/**
 * CLI: node packages/waf/src/conformance/main.ts [--profile crs-test|crs-pl1|FILE] [--tests DIR]
 *        [--only 942100] [--fails] [--out results.json]
 * Profile placeholders (PROFILE_DIR, LOG_DIR, RUN_DIR) are substituted like the reference tool's
 * setup; exit code 1 when --min-rate is given and not reached.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Waf } from '../engine/waf.ts';
import { formatReport, runConformance } from './runner.ts';

const here = path.dirname(new URL(import.meta.url).pathname);
const shared = path.resolve(here, '../../../../../shared');
const { values } = parseArgs({
  options: {
    profile: { type: 'string', default: 'crs-test' },
    tests: { type: 'string', default: path.join(shared, 'data/crs-tests') },
    only: { type: 'string' },
    fails: { type: 'boolean', default: false },
    out: { type: 'string' },
    'min-rate': { type: 'string' },
  },
});
const profileDir = path.join(shared, 'tools/crs-ftw/profiles');
const profile = fs.existsSync(values.profile!) ? path.resolve(values.profile!) : path.join(profileDir, `${values.profile}.conf`);
const tmp = os.tmpdir();
const subst = (p: string) => p.replaceAll('PROFILE_DIR', profileDir).replaceAll('LOG_DIR', tmp).replaceAll('RUN_DIR', tmp);
const t0 = performance.now();
const waf = Waf.fromFile(profile, { rewritePath: subst });
const t1 = performance.now();
const rep = runConformance(waf, values.tests!, values.only);
const t2 = performance.now();
if (values.fails) {
  for (const r of rep.results)
    if (r.result === 'fail') console.log(`FAIL ${r.title} ${r.reasons.join('; ')} status=${r.status} ids=${r.ids.join(',')}`);
}
console.log(formatReport(rep));
console.log(
  `profile ${path.basename(profile)}: ${waf.rules.ruleCount} rules loaded in ${(t1 - t0).toFixed(0)} ms; ${rep.results.length} tests in ${((t2 - t1) / 1000).toFixed(1)} s`,
);
if (values.out)
  fs.writeFileSync(
    values.out,
    JSON.stringify({ total: rep.total, perFile: Object.fromEntries(rep.perFile), results: rep.results }, null, 1),
  );
if (values['min-rate'] !== undefined) {
  const rate = (100 * rep.total.pass) / Math.max(1, rep.total.pass + rep.total.fail);
  if (rate < Number(values['min-rate'])) process.exit(1);
}
