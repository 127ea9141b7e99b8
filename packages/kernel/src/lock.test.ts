import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { acquireLock, withLock } from './lock.ts';

const dir = mkdtempSync(join(tmpdir(), 'triplane-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const LOCK_TS = new URL('./lock.ts', import.meta.url).pathname;

/** A process that takes the lock, appends "<id> in" / "<id> out" around a pause, and exits. */
function contender(lock: string, log: string, id: number, holdMs: number) {
  const code = `
    import { appendFileSync } from 'node:fs';
    import { acquireLock } from ${JSON.stringify(LOCK_TS)};
    const release = await acquireLock(${JSON.stringify(lock)}, { waitMs: 60_000 });
    appendFileSync(${JSON.stringify(log)}, '${id} in\\n');
    await new Promise((r) => setTimeout(r, ${holdMs}));
    appendFileSync(${JSON.stringify(log)}, '${id} out\\n');
    if (${id} % 2) await release(); // the others just exit holding it
  `;
  return spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: 'inherit' });
}

test('contending processes hold the lock one at a time, whether they release it or exit holding it', async () => {
  const lock = join(dir, 'a.lock');
  const log = join(dir, 'a.log');
  const kids = Array.from({ length: 6 }, (_, i) => contender(lock, log, i, 150));
  await Promise.all(kids.map((k) => once(k, 'exit')));
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  assert.equal(lines.length, 12);
  for (let i = 0; i < lines.length; i += 2) {
    const [id, what] = (lines[i] as string).split(' ');
    assert.equal(what, 'in', lines.join(' | '));
    assert.equal(lines[i + 1], `${id} out`, `nobody else got in while ${id} held it: ${lines.join(' | ')}`);
  }
});

test('a holder killed with SIGKILL frees the lock at once; the file names the holder', async () => {
  const lock = join(dir, 'b.lock');
  const holder = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { acquireLock } from ${JSON.stringify(LOCK_TS)};
       await acquireLock(${JSON.stringify(lock)}, { waitMs: 10_000 });
       console.log('held'); setInterval(() => {}, 1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await once(holder.stdout as NodeJS.ReadableStream, 'data');
  assert.equal(readFileSync(lock, 'utf8'), String(holder.pid));
  await assert.rejects(acquireLock(lock, { waitMs: 300, what: 'the holder' }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'TRIPLANE_ERR_LOCKED');
    assert.match(e.message, new RegExp(`held by pid ${holder.pid}; the holder is running`));
    return true;
  });
  holder.kill('SIGKILL');
  await once(holder, 'exit');
  const release = await acquireLock(lock, { waitMs: 2_000 });
  assert.equal(readFileSync(lock, 'utf8'), String(process.pid));
  await release();
  await release(); // twice is harmless
});

test('in one process the lock excludes too; withLock releases on a throw', async () => {
  const lock = join(dir, 'c.lock');
  const release = await acquireLock(lock, { waitMs: 1_000 });
  await assert.rejects(acquireLock(lock, { waitMs: 300 }), /TRIPLANE_ERR_LOCKED|is held/);
  await release();
  await assert.rejects(
    withLock(lock, 1_000, async () => {
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(await withLock(lock, 1_000, async () => 42), 42);
});
