import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type ControlProcess, startControl, triplane } from './testing/cli.ts';

/** `triplane env protect|unprotect` against a real `triplane control` (SQLite). */
let cp: ControlProcess;
before(async () => {
  cp = await startControl({ workers: 0 });
});
after(async () => {
  assert.equal(await cp?.stop(), 0, cp?.output());
});

const run = (args: string[], input?: string) => triplane(args, { env: cp.env(), ...(input !== undefined ? { input } : {}) });

test('env protect reads the password from stdin; the environment shows the user only; unprotect removes it', {
  timeout: 120_000,
}, async () => {
  const created = await run(['site', 'create', '--name', 'shop', '--domain', 'shop.example.test', '--no-wait']);
  assert.equal(created.code, 0, created.stderr);

  const p = await run(
    ['env', 'protect', 'shop', 'production', '--user', 'preview', '--password-stdin'],
    'open sesame 4 staging\n',
  );
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /^shop\/production is password-protected \(user preview\)/m);
  const shown = await run(['env', 'show', 'shop', 'production', '--json']);
  assert.equal(shown.code, 0, shown.stderr);
  const env = JSON.parse(shown.stdout);
  assert.deepEqual(env.protection, { user: 'preview' });
  assert.equal(env.staging, false);
  assert.doesNotMatch(shown.stdout, /scrypt|open sesame/);

  const u = await run(['env', 'unprotect', 'shop', '--json']);
  assert.equal(u.code, 0, u.stderr);
  assert.equal(JSON.parse(u.stdout).protection, null);

  assert.equal(
    (await run(['env', 'protect', 'shop', '--user', 'preview'], 'open sesame 4 staging\n')).code,
    2,
    'no --password-stdin',
  );
  assert.equal((await run(['env', 'protect', 'shop', '--user', 'a:b', '--password-stdin'], 'open sesame 4 staging')).code, 2);
  assert.equal((await run(['env', 'protect', 'shop', '--user', 'preview', '--password-stdin'], '\n')).code, 2, 'empty password');
  const short = await run(['env', 'protect', 'shop', '--user', 'preview', '--password-stdin'], 'short\n');
  assert.equal(short.code, 1, short.stderr);
  assert.match(short.stderr, /TRIPLANE_ERR_VALIDATION/);
  assert.equal((await run(['env', 'protect', 'nope', '--user', 'preview', '--password-stdin'], 'open sesame 4 staging')).code, 4);
});
