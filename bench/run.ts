/**
 * `make bench`: run every benchmark under bench/ (each folder with a run.ts), one after the
 * other, passing the remaining arguments through. Exit code: non-zero if any failed.
 *
 *   node bench/run.ts                 # all
 *   node bench/run.ts api-sites       # only these
 *   node bench/run.ts api-sites -- --write --duration 10
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const here = new URL('.', import.meta.url).pathname;
const argv = process.argv.slice(2);
const sep = argv.indexOf('--');
const names = sep === -1 ? argv : argv.slice(0, sep);
const passthrough = sep === -1 ? [] : argv.slice(sep + 1);

const all = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(here, d.name, 'run.ts')))
  .map((d) => d.name)
  .sort();
const chosen = names.length ? names : all;
const unknown = chosen.filter((n) => !all.includes(n));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${all.join(', ')}`);
  process.exit(2);
}
let failed = 0;
for (const name of chosen) {
  console.log(`\n== bench/${name}`);
  const r = spawnSync(process.execPath, [join(here, name, 'run.ts'), ...passthrough], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.log(`== bench/${name} FAILED (exit ${r.status ?? r.signal})`);
  }
}
process.exit(failed ? 1 : 0);
