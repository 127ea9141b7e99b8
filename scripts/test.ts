/**
 * The test runner behind `make test`: starts a throwaway PostgreSQL server on 127.0.0.1 for
 * the store's Postgres runs, then runs every `*.test.ts` with node's built-in test runner
 * (which prints the summary: tests / pass / fail). Exit code = the test runner's.
 *
 * Usage: node scripts/test.ts [file-or-glob …]   (default: every test in the repo)
 */
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, globSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
process.chdir(root);

// apps/*/e2e: the dashboard's browser tests (Chromium; site-flows also Podman + agent + edge)
const DEFAULT_GLOBS = ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'apps/*/e2e/**/*.test.ts', 'e2e/**/*.test.ts'];
const args = process.argv.slice(2);
const files = (args.length ? args : DEFAULT_GLOBS)
  .flatMap((g) => (existsSync(g) ? [g] : globSync(g)))
  .filter((f) => !f.includes('node_modules'))
  .sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

function pgBin(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) if (existsSync(join(base, v, 'bin', 'initdb'))) return join(base, v, 'bin');
  return undefined;
}

interface Pg {
  url: string;
  stop: () => void;
}

async function startPostgres(): Promise<Pg | undefined> {
  const bin = pgBin();
  if (!bin) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'triplane-pg-'));
  const asRoot = process.getuid?.() === 0;
  const pgUid = asRoot ? Number(spawnSync('id', ['-u', 'postgres']).stdout.toString().trim()) : undefined;
  if (asRoot && pgUid) chownSync(dir, pgUid, pgUid);
  const run = (cmd: string, a: string[]) =>
    (asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...a]] : [cmd, a]) as [string, string[]];
  const data = join(dir, 'data');
  const [c1, a1] = run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  const init = spawnSync(c1, a1, { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freePort();
  const [c2, a2] = run(join(bin, 'postgres'), [
    '-D',
    data,
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'max_connections=300',
  ]);
  const proc = spawn(c2, a2, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d) => {
    stderr += d;
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = spawnSync(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)]);
    if (r.status === 0) break;
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`postgres did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: () => {
      proc.kill('SIGINT');
      spawnSync('sleep', ['0.5']);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const pg = await startPostgres();
const env = { ...process.env };
if (pg) env.TRIPLANE_TEST_PG_URL = pg.url;
else console.warn('! PostgreSQL is not installed: Postgres store tests will fail (run scripts/install-system-deps.sh)');

const concurrency = process.env.TRIPLANE_TEST_CONCURRENCY ?? '3';
// --test-timeout is a hang detector, not a speed limit: test files that drive Podman wait for one
// shared lock (runtime/integration/one-at-a-time.ts), up to the length of the longest of them.
const child = spawn(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', '--test-timeout=1200000', ...files],
  // Its own process group: the test files' children (an e2e file's control plane, agent and
  // edge) are in it too, so stopping this runner stops them. Killing only the test runner left
  // them behind, recreating pods and holding port 20000 for the next run.
  { stdio: 'inherit', env, detached: true },
);
const stopAll = () => pg?.stop();
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    try {
      if (child.pid) process.kill(-child.pid, sig);
    } catch {
      child.kill(sig);
    }
  });
}
child.on('exit', (code, signal) => {
  // Anything a test file left running in the group is an orphan now.
  try {
    if (child.pid) process.kill(-child.pid, 'SIGTERM');
  } catch {
    // the group is empty: nothing left behind
  }
  stopAll();
  process.exit(code ?? (signal ? 1 : 0));
});
