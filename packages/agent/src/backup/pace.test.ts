import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BACKUP_PACE_DEFAULTS, backupIoLimit, uploadKiB } from './pace.ts';

const MiB = 1024 * 1024;

test('the backup pace: measured defaults, 0 turns a ceiling off, malformed values count as unset', () => {
  assert.deepEqual(backupIoLimit({}), { readBps: BACKUP_PACE_DEFAULTS.readMiB * MiB });
  assert.equal(uploadKiB({}), 12 * 1024);
  assert.deepEqual(backupIoLimit({ TRIPLANE_BACKUP_IO_READ_MIB: '0', TRIPLANE_BACKUP_IO_WRITE_MIB: '0' }), {});
  assert.deepEqual(backupIoLimit({ TRIPLANE_BACKUP_IO_READ_MIB: '2.5', TRIPLANE_BACKUP_IO_WRITE_MIB: '4' }), {
    readBps: 2.5 * MiB,
    writeBps: 4 * MiB,
  });
  assert.equal(uploadKiB({ TRIPLANE_BACKUP_LIMIT_UPLOAD_KIB: '0' }), 0);
  assert.equal(uploadKiB({ TRIPLANE_BACKUP_LIMIT_UPLOAD_KIB: ' ' }), 12 * 1024);
  for (const bad of ['fast', '-1', 'NaN'])
    assert.deepEqual(backupIoLimit({ TRIPLANE_BACKUP_IO_READ_MIB: bad }), { readBps: BACKUP_PACE_DEFAULTS.readMiB * MiB }, bad);
});
