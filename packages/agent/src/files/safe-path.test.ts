import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isTriplaneError } from '@triplane/kernel';
import { listDir, MAX_FILE_BYTES, makeDir, readFileIn, removeIn, writeFileIn, wwwDataOf } from './ops.ts';
import { openDirIn, parsePath } from './safe-path.ts';

const code = (c: string, reason?: string) => (e: unknown) => {
  assert.ok(isTriplaneError(e), `a TriplaneError, got ${String(e)}`);
  assert.equal(e.code, c, e.message);
  if (reason) assert.equal((e.details as { reason?: string }).reason, reason);
  return true;
};

describe('file manager paths: nothing outside the volume is reachable', () => {
  let base: string;
  let root: string;
  let outside: string;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'tp-files-'));
    root = join(base, 'volume', '_data');
    outside = join(base, 'outside');
    await mkdir(join(root, 'uploads', '2024'), { recursive: true });
    await mkdir(outside);
    await writeFile(join(outside, 'secret.txt'), 'host secret\n');
    await writeFile(join(root, 'index.php'), '<?php // Silence is golden.\n');
    await writeFile(join(root, 'uploads', '2024', 'a.txt'), 'hello');
    // what a compromised site could plant: links to the host's /etc and to a sibling dir
    await symlink('/etc', join(root, 'etc'));
    await symlink(outside, join(root, 'uploads', 'out'));
    await symlink('../../outside/secret.txt', join(root, 'secret-link.txt'));
    await symlink('/usr/share/triplane/object-cache.php', join(root, 'object-cache.php'));
  });
  after(() => rm(base, { recursive: true, force: true }));

  test('parsePath refuses every traversal trick and keeps plain names', () => {
    for (const p of ['..', '../x', 'a/../../b', './a', 'a/./b', '/etc/passwd', '/', 'a//b', 'a/', 'a\0b', '\0', 'x/..']) {
      assert.throws(() => parsePath(p), code('TRIPLANE_ERR_VALIDATION'), JSON.stringify(p));
    }
    assert.throws(() => parsePath('a/'.repeat(70) + 'x'), code('TRIPLANE_ERR_VALIDATION', 'depth'));
    assert.throws(() => parsePath('x'.repeat(256)), code('TRIPLANE_ERR_VALIDATION', 'name-length'));
    assert.deepEqual(parsePath(''), []);
    assert.deepEqual(parsePath('uploads/2024/a.txt'), ['uploads', '2024', 'a.txt']);
    // Never decoded here: these are ordinary (odd) file names, not '..'.
    assert.deepEqual(parsePath('%2e%2e/%2fetc'), ['%2e%2e', '%2fetc']);
    assert.deepEqual(parsePath('..a/b..'), ['..a', 'b..']);
  });

  test('encoded dots are file names: they find nothing and never climb', async () => {
    await assert.rejects(readFileIn(root, '%2e%2e/outside/secret.txt'), code('TRIPLANE_ERR_NOT_FOUND'));
    await assert.rejects(readFileIn(root, '..%2f..%2foutside%2fsecret.txt'), code('TRIPLANE_ERR_NOT_FOUND'));
    await assert.rejects(readFileIn(root, '../outside/secret.txt'), code('TRIPLANE_ERR_VALIDATION'));
    await assert.rejects(listDir(root, '..'), code('TRIPLANE_ERR_VALIDATION'));
  });

  test('a symlink to /etc inside the volume is listed, never followed', async () => {
    const l = await listDir(root, '');
    const etc = l.entries.find((e) => e.name === 'etc');
    assert.deepEqual({ type: etc?.type, target: etc?.target }, { type: 'symlink', target: '/etc' });
    assert.equal(l.entries[0]?.type, 'dir', 'directories first');
    await assert.rejects(listDir(root, 'etc'), code('TRIPLANE_ERR_UNPROCESSABLE', 'symlink'));
    await assert.rejects(readFileIn(root, 'etc/passwd'), code('TRIPLANE_ERR_UNPROCESSABLE', 'symlink'));
    await assert.rejects(writeFileIn(root, 'etc/evil', Buffer.from('x'), { owner: null }), code('TRIPLANE_ERR_UNPROCESSABLE'));
    await assert.rejects(makeDir(root, 'etc/evil.d', { owner: null }), code('TRIPLANE_ERR_UNPROCESSABLE'));
    await assert.rejects(removeIn(root, 'etc/hostname'), code('TRIPLANE_ERR_UNPROCESSABLE'));
    await assert.rejects(stat('/etc/evil'), { code: 'ENOENT' });
  });

  test('a symlinked parent directory is refused; a symlinked file is neither read nor written through', async () => {
    await assert.rejects(listDir(root, 'uploads/out'), code('TRIPLANE_ERR_UNPROCESSABLE', 'symlink'));
    await assert.rejects(readFileIn(root, 'uploads/out/secret.txt'), code('TRIPLANE_ERR_UNPROCESSABLE', 'symlink'));
    await assert.rejects(readFileIn(root, 'secret-link.txt'), code('TRIPLANE_ERR_UNPROCESSABLE', 'symlink'));
    await assert.rejects(
      writeFileIn(root, 'secret-link.txt', Buffer.from('pwned'), { owner: null }),
      code('TRIPLANE_ERR_UNPROCESSABLE', 'symlink'),
    );
    await assert.rejects(
      writeFileIn(root, 'uploads/out/new.txt', Buffer.from('pwned'), { owner: null }),
      code('TRIPLANE_ERR_UNPROCESSABLE', 'symlink'),
    );
    assert.equal(await readFile(join(outside, 'secret.txt'), 'utf8'), 'host secret\n');
    assert.deepEqual(await readdir(outside), ['secret.txt']);
  });

  test('deleting a link removes the link, not its target; a recursive delete never enters links', async () => {
    await mkdir(join(root, 'tree', 'deep'), { recursive: true });
    await writeFile(join(root, 'tree', 'deep', 'f'), 'x');
    await symlink(outside, join(root, 'tree', 'deep', 'to-outside'));
    await symlink(join(outside, 'secret.txt'), join(root, 'tree', 'file-link'));
    await assert.rejects(removeIn(root, 'tree'), code('TRIPLANE_ERR_CONFLICT', 'not-empty'));
    assert.deepEqual(await removeIn(root, 'tree', { recursive: true }), { removed: 5 });
    await assert.rejects(stat(join(root, 'tree')), { code: 'ENOENT' });
    assert.equal(await readFile(join(outside, 'secret.txt'), 'utf8'), 'host secret\n');
    await removeIn(root, 'secret-link.txt');
    assert.equal(await readFile(join(outside, 'secret.txt'), 'utf8'), 'host secret\n');
    await symlink('../../outside/secret.txt', join(root, 'secret-link.txt'));
  });

  test('a directory swapped for a symlink after it was opened cannot redirect the operation', async () => {
    await mkdir(join(root, 'race'));
    const d = await openDirIn(root, ['race']);
    try {
      // a site's PHP racing the agent: `race` becomes a link to the outside
      await rename(join(root, 'race'), join(root, 'race-moved'));
      await symlink(outside, join(root, 'race'));
      await writeFile(d.at('written.txt'), 'stays inside');
    } finally {
      await d.close();
    }
    assert.equal(await readFile(join(root, 'race-moved', 'written.txt'), 'utf8'), 'stays inside');
    assert.deepEqual(await readdir(outside), ['secret.txt']);
    await rm(join(root, 'race'));
  });

  test('a FIFO is refused at once (no hang), other odd files too', async () => {
    execFileSync('mkfifo', [join(root, 'pipe')]);
    await assert.rejects(readFileIn(root, 'pipe'), code('TRIPLANE_ERR_UNPROCESSABLE'));
    await assert.rejects(writeFileIn(root, 'pipe', Buffer.from('x'), { owner: null }), code('TRIPLANE_ERR_UNPROCESSABLE'));
    await removeIn(root, 'pipe');
  });

  test('list, write (atomic, owned by www-data), read back, mkdir, errors with stable codes', async () => {
    const owner = wwwDataOf(7);
    assert.deepEqual(owner, { uid: 1_000_458_785, gid: 1_000_458_785 });
    const w = await writeFileIn(root, 'uploads/2024/new.txt', Buffer.from('ünïcode\n'), { owner });
    assert.equal(w.size, Buffer.byteLength('ünïcode\n'));
    assert.equal(w.mode, '0644');
    const st = await stat(join(root, 'uploads/2024/new.txt'));
    if (process.getuid?.() === 0) assert.equal(st.uid, owner.uid, 'new files belong to the site');
    const r = await readFileIn(root, 'uploads/2024/new.txt');
    assert.equal(Buffer.from(r.base64, 'base64').toString('utf8'), 'ünïcode\n');
    assert.equal(r.size, w.size);
    // replacing keeps the existing owner and mode
    execFileSync('chmod', ['0600', join(root, 'uploads/2024/new.txt')]);
    await writeFileIn(root, 'uploads/2024/new.txt', Buffer.from('v2'), { owner: { uid: 0, gid: 0 } });
    const st2 = await stat(join(root, 'uploads/2024/new.txt'));
    assert.equal(st2.mode & 0o777, 0o600);
    if (process.getuid?.() === 0) assert.equal(st2.uid, owner.uid);
    assert.equal(
      (await readdir(join(root, 'uploads/2024'))).filter((n) => n.startsWith('.tp-upload-')).length,
      0,
      'no temp left',
    );
    await assert.rejects(
      writeFileIn(root, 'uploads/2024/new.txt', Buffer.from('x'), { owner: null, createOnly: true }),
      code('TRIPLANE_ERR_ALREADY_EXISTS'),
    );
    await assert.rejects(writeFileIn(root, 'nope/x.txt', Buffer.from('x'), { owner: null }), code('TRIPLANE_ERR_NOT_FOUND'));
    await assert.rejects(writeFileIn(root, 'index.php/x', Buffer.from('x'), { owner: null }), code('TRIPLANE_ERR_CONFLICT'));
    await assert.rejects(writeFileIn(root, 'uploads', Buffer.from('x'), { owner: null }), code('TRIPLANE_ERR_CONFLICT'));
    await assert.rejects(writeFileIn(root, '', Buffer.from('x'), { owner: null }), code('TRIPLANE_ERR_VALIDATION'));
    await assert.rejects(
      writeFileIn(root, 'big.bin', Buffer.alloc(MAX_FILE_BYTES + 1), { owner: null }),
      code('TRIPLANE_ERR_PAYLOAD_TOO_LARGE'),
    );
    await writeFile(join(root, 'huge.bin'), Buffer.alloc(MAX_FILE_BYTES + 1));
    await assert.rejects(readFileIn(root, 'huge.bin'), code('TRIPLANE_ERR_PAYLOAD_TOO_LARGE'));
    await removeIn(root, 'huge.bin');
    await assert.rejects(readFileIn(root, 'uploads'), code('TRIPLANE_ERR_CONFLICT', 'is-a-directory'));
    await assert.rejects(readFileIn(root, 'missing.txt'), code('TRIPLANE_ERR_NOT_FOUND'));
    const m = await makeDir(root, 'uploads/2025', { owner });
    assert.equal(m.type, 'dir');
    await assert.rejects(makeDir(root, 'uploads/2025', { owner }), code('TRIPLANE_ERR_ALREADY_EXISTS'));
    await assert.rejects(makeDir(root, 'a/b/c', { owner }), code('TRIPLANE_ERR_NOT_FOUND'));
    const l = await listDir(root, 'uploads');
    assert.deepEqual(
      l.entries.map((e) => [e.name, e.type]),
      [
        ['2024', 'dir'],
        ['2025', 'dir'],
        ['out', 'symlink'],
      ],
    );
    await assert.rejects(listDir(root, 'index.php'), code('TRIPLANE_ERR_CONFLICT'));
    await assert.rejects(listDir(root, 'nothing-here'), code('TRIPLANE_ERR_NOT_FOUND'));
    await removeIn(root, 'uploads/2025');
    await assert.rejects(removeIn(root, 'uploads/2025'), code('TRIPLANE_ERR_NOT_FOUND'));
  });
});
