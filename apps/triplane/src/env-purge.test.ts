import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type ControlProcess, startControl, triplane } from './testing/cli.ts';

/** `triplane env purge` against a real `triplane control` (SQLite): output, JSON and exit codes. */
let cp: ControlProcess;
before(async () => {
  cp = await startControl({ workers: 0 });
});
after(async () => {
  assert.equal(await cp?.stop(), 0, cp?.output());
});

const run = (args: string[]) => triplane(args, { env: cp.env() });

test('env purge: exactly one of --url, --tag or --all; recorded with a seq; bad input exits 1/2/4', {
  timeout: 120_000,
}, async () => {
  const created = await run(['site', 'create', '--name', 'shop', '--domain', 'shop.example.test', '--no-wait']);
  assert.equal(created.code, 0, created.stderr);

  const byUrl = await run(['env', 'purge', 'shop', '--url', '/a?x=1', '--url', 'https://shop.example.test/b', '--json']);
  assert.equal(byUrl.code, 0, byUrl.stderr);
  const j = JSON.parse(byUrl.stdout);
  assert.equal(j.kind, 'url');
  assert.deepEqual(j.values, ['/a?x=1', 'https://shop.example.test/b']);
  assert.ok(j.seq >= 1);

  const byTag = await run(['env', 'purge', 'shop', 'production', '--tag', 'cat_p_42']);
  assert.equal(byTag.code, 0, byTag.stderr);
  assert.match(byTag.stdout, new RegExp(`^purge ${j.seq + 1} of shop/production recorded \\(1 tag\\(s\\)\\)`, 'm'));

  const all = await run(['env', 'purge', 'shop', '--all']);
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /recorded \(everything\)/);

  assert.equal((await run(['env', 'purge', 'shop'])).code, 2, 'nothing to purge: usage');
  assert.equal((await run(['env', 'purge', 'shop', '--all', '--tag', 'x'])).code, 2, 'two kinds: usage');
  const elsewhere = await run(['env', 'purge', 'shop', '--url', 'https://other.example.test/']);
  assert.equal(elsewhere.code, 1, elsewhere.stderr);
  assert.match(elsewhere.stderr, /TRIPLANE_ERR_UNPROCESSABLE/);
  assert.equal((await run(['env', 'purge', 'shop', '--url', 'not a url'])).code, 1);
  assert.equal((await run(['env', 'purge', 'nope', '--all'])).code, 4);
});
