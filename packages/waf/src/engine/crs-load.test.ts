import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { readConfigText } from '../config/reader.ts';
import { compileRuleSet } from './compile.ts';

const CRS = '/usr/share/modsecurity-crs/rules';
const SETUP = '/etc/modsecurity/crs/crs-setup.conf';

test('Debian CRS 3.3 (crs-setup + rules/*.conf) parses and compiles with zero errors', {
  skip: !fs.existsSync(CRS) && 'modsecurity-crs not installed',
}, () => {
  const d = readConfigText(`Include ${SETUP}\nInclude ${CRS}/*.conf\n`, '/etc/triplane/waf.conf');
  const count = (n: string) => d.filter((x) => x.name === n).length;
  // counted in ../shared/specs/waf.md for Debian's 3.3.4
  assert.equal(count('SecRule'), 790);
  assert.equal(count('SecAction'), 10);
  assert.equal(count('SecMarker'), 40);
  const rs = compileRuleSet(d);
  assert.equal(rs.ruleCount, 800);
  let links = 0;
  for (const r of rs.byId.values()) for (let l = r.chain; l; l = l.chain) links++;
  assert.equal(links, 166);
  assert.equal(rs.byId.size, 800 - 166);
  // every @rx translated and compiled
  const rx = [...rs.byId.values()].flatMap((r) => {
    const out = [];
    for (let l: typeof r | undefined = r; l; l = l.chain) if (l.opName === 'rx') out.push(l);
    return out;
  });
  assert.ok(rx.length >= 265, `only ${rx.length} @rx rules`);
});
