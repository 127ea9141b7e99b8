import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { meter, verifiedDump } from './executor.ts';

const exitedWith = (code: number, stderr = '') => Promise.resolve({ code, stderr });
/** A dump of `n` 64 KiB chunks then the trailer, written into the meter; the reader decides the pace. */
function writeDump(m: ReturnType<typeof meter>, n: number, trailer = '-- Dump completed on 2026-11-25 14:00:00\n'): void {
  for (let i = 0; i < n; i++) m.stream.write(Buffer.alloc(64 * 1024, 0x41));
  m.stream.end(Buffer.from(trailer));
}

test('a complete dump still in the meter when mariadb-dump exits (slow reader) is verified once it has gone through', async () => {
  const m = meter();
  writeDump(m, 64); // 4 MiB: far more than the meter buffers, so the trailer is not through yet
  let settled: 'ok' | Error | undefined;
  verifiedDump(exitedWith(0), m).then(
    () => {
      settled = 'ok';
    },
    (e: Error) => {
      settled = e;
    },
  );
  await sleep(50);
  assert.equal(settled, undefined, 'waits for the bytes, does not judge the dump by the exit alone');
  assert.doesNotMatch(m.tail(), /Dump completed/);
  for await (const _ of m.stream) await sleep(0); // restic reads, slowly
  await sleep(0);
  assert.equal(settled, 'ok', String(settled));
});

test('a dump without its trailer, or a failed mariadb-dump, is refused', async () => {
  const cut = meter();
  writeDump(cut, 2, '-- MariaDB dump 10.19  Distrib 10.11\n');
  const read = (async () => {
    for await (const _ of cut.stream);
  })();
  await assert.rejects(verifiedDump(exitedWith(0), cut), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'TRIPLANE_ERR_BACKUP_DUMP_FAILED');
    assert.match(e.message, /the dump is incomplete/);
    return true;
  });
  await read;
  // A non-zero exit fails at once, without waiting for the bytes (restic is stopped before its EOF).
  const failed = meter();
  failed.stream.write(Buffer.alloc(4 * 1024 * 1024));
  await assert.rejects(verifiedDump(exitedWith(2, 'Got error: 2013: Lost connection'), failed), /exit 2\): Got error: 2013/);
  failed.stream.destroy();
});
