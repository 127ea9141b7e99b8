import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BACKUP_PACE_DEFAULTS, backupIoLimit, uploadKiB } from './pace.ts';

const MiB = 1024 * 1024;

test('the backup pace: off by default, 0 turns a ceiling off, malformed values count as unset', () => {
  assert.deepEqual(BACKUP_PACE_DEFAULTS, { readMiB: 0, writeMiB: 0, uploadKiB: 0 });
  assert.deepEqual(backupIoLimit({}), {});
  assert.equal(uploadKiB({}), 0);
  assert.deepEqual(backupIoLimit({ TRIPLANE_BACKUP_IO_READ_MIB: '0', TRIPLANE_BACKUP_IO_WRITE_MIB: '0' }), {});
  assert.deepEqual(backupIoLimit({ TRIPLANE_BACKUP_IO_READ_MIB: '2.5', TRIPLANE_BACKUP_IO_WRITE_MIB: '4' }), {
    readBps: 2.5 * MiB,
    writeBps: 4 * MiB,
  });
  assert.equal(uploadKiB({ TRIPLANE_BACKUP_LIMIT_UPLOAD_KIB: '0' }), 0);
  assert.equal(uploadKiB({ TRIPLANE_BACKUP_LIMIT_UPLOAD_KIB: ' 8192 ' }), 8192);
  assert.equal(uploadKiB({ TRIPLANE_BACKUP_LIMIT_UPLOAD_KIB: ' ' }), 0);
  for (const bad of ['fast', '-1', 'NaN']) assert.deepEqual(backupIoLimit({ TRIPLANE_BACKUP_IO_READ_MIB: bad }), {}, bad);
});
