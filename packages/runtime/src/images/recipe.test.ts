import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { combineHash, hashTree } from './hash.ts';
import { DEFAULT_IMAGES_DIR, loadManifest, loadRootfsRecipe, renderSourcesList, validateManifest } from './recipe.ts';

test('the repository manifest and rootfs recipe are valid', async () => {
  const m = await loadManifest(DEFAULT_IMAGES_DIR);
  assert.deepEqual(
    m.images.map((i) => i.name),
    ['base', 'php', 'web', 'mariadb', 'redis'],
  );
  const r = await loadRootfsRecipe(DEFAULT_IMAGES_DIR);
  assert.equal(r.variant, 'minbase');
  assert.equal(r.suite, 'bookworm');
});

test('sources.list has the suite, -updates and -security', () => {
  const s = renderSourcesList({
    suite: 'bookworm',
    variant: 'minbase',
    mirror: 'http://m/debian',
    securityMirror: 'http://m/debian-security',
    components: ['main'],
    prune: [],
    env: [],
    cmd: [],
  });
  assert.equal(
    s,
    'deb http://m/debian bookworm main\ndeb http://m/debian bookworm-updates main\ndeb http://m/debian-security bookworm-security main\n',
  );
});

test('manifest validation: parents must come first, names unique', () => {
  assert.throws(() => validateManifest({ registry: 'r', images: [{ name: 'php', parent: 'base' }] }), {
    code: 'TRIPLANE_ERR_IMAGE_RECIPE_INVALID',
  });
  assert.throws(() => validateManifest({ registry: 'r', images: [{ name: 'rootfs', parent: 'rootfs' }] }), /twice/);
  assert.throws(() => validateManifest({ registry: 'r', images: [{ name: 'Bad', parent: 'rootfs' }] }), /bad image name/);
});

test('hashTree covers content, names, exec bit and symlinks, not mtimes', async () => {
  const d = await mkdtemp(join(tmpdir(), 'triplane-hash-'));
  try {
    await mkdir(join(d, 'files'));
    await writeFile(join(d, 'Containerfile'), 'FROM x\n');
    await writeFile(join(d, 'files', 'a.sh'), 'echo\n');
    const h1 = await hashTree(d);
    assert.equal(await hashTree(d), h1);
    await writeFile(join(d, 'Containerfile'), 'FROM x\n');
    assert.equal(await hashTree(d), h1, 'rewrite with same bytes keeps the hash');
    await chmod(join(d, 'files', 'a.sh'), 0o755);
    const h2 = await hashTree(d);
    assert.notEqual(h2, h1);
    await symlink('a.sh', join(d, 'files', 'b'));
    const h3 = await hashTree(d);
    assert.notEqual(h3, h2);
    await writeFile(join(d, 'files', 'a.sh'), 'echo 2\n');
    assert.notEqual(await hashTree(d), h3);
  } finally {
    await rm(d, { recursive: true, force: true });
  }
});

test('combineHash is order-independent and short', () => {
  assert.equal(combineHash({ a: '1', b: '2' }), combineHash({ b: '2', a: '1' }));
  assert.notEqual(combineHash({ a: '1', b: '2' }), combineHash({ a: '1', b: '3' }));
  assert.match(combineHash({ a: '1' }), /^[0-9a-f]{16}$/);
});
