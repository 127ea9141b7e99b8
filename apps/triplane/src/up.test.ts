import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, cliEnv, freePort, tempDir, triplane } from './testing/cli.ts';

/** Run `triplane up` until it has printed its token line; returns the lines and the process. */
async function up(
  dataDir: string,
  port: number,
  home: string,
  extra: string[] = ['--no-edge'],
): Promise<{ child: ChildProcess; out: () => string; api: string; token: string }> {
  // --no-agent: the agent and the demo site are covered by e2e/wordpress.test.ts and by hand.
  const child = spawn(BIN, ['up', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--no-agent', ...extra], {
    env: cliEnv(home),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const deadline = Date.now() + 120_000;
  for (;;) {
    const api = /^api: (\S+)$/m.exec(out)?.[1];
    const token = /^token: (\S+)$/m.exec(out)?.[1];
    if (api && token) return { child, out: () => out, api, token };
    if (child.exitCode !== null) throw new Error(`triplane up exited ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`triplane up printed no api/token lines:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function exit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => child.once('exit', (code) => r(code)));
}

test('triplane up --no-agent --no-edge prints api and token, serves the API, says edge and agent are not started, stops on SIGTERM', {
  timeout: 300_000,
}, async () => {
  const dir = tempDir('triplane-up-');
  try {
    const home = join(dir.path, 'home');
    const dataDir = join(dir.path, 'data');
    const port = await freePort();
    const first = await up(dataDir, port, home);
    assert.equal(first.api, `http://127.0.0.1:${port}`);
    assert.match(first.token, /^tpl_/);
    assert.match(first.out(), /^edge: not started — --no-edge given/m);
    assert.match(first.out(), /^agent: not started — --no-agent given/m);
    assert.equal(statSync(join(dataDir, 'owner-token')).mode & 0o777, 0o600);

    const who = await triplane(['whoami', '--json'], {
      env: cliEnv(home, { TRIPLANE_API: first.api, TRIPLANE_TOKEN: first.token }),
    });
    assert.equal(who.code, 0, who.stderr);

    // A second `up` on the same address refuses to start instead of fighting over the port.
    const clash = await triplane(['up', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--no-agent', '--no-edge'], {
      env: cliEnv(home),
    });
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /already listening/);

    first.child.kill('SIGTERM');
    assert.equal(await exit(first.child), 0, first.out());
    assert.match(first.out(), /^stopped$/m);
    await assert.rejects(fetch(`${first.api}/readyz`), 'the control plane stopped with it');

    // The next `up` prints the same owner token (kept in DATA_DIR/owner-token).
    const second = await up(dataDir, port, home);
    assert.equal(second.token, first.token);
    assert.doesNotMatch(second.out(), /created the owner/);
    second.child.kill('SIGINT');
    assert.equal(await exit(second.child), 0, second.out());
  } finally {
    dir.remove();
  }
});

test('triplane up after triplane init mints a token it can show', { timeout: 300_000 }, async () => {
  const dir = tempDir('triplane-up-');
  try {
    const home = join(dir.path, 'home');
    const dataDir = join(dir.path, 'data');
    const init = await triplane(['init', '--data-dir', dataDir], { env: cliEnv(home) });
    assert.equal(init.code, 0, init.stderr);
    const initToken = /^token: (\S+)$/m.exec(init.stdout)?.[1];
    const port = await freePort();
    const u = await up(dataDir, port, home);
    assert.notEqual(u.token, initToken);
    assert.match(u.out(), /made a new one/);
    const who = await triplane(['whoami'], { env: cliEnv(home, { TRIPLANE_API: u.api, TRIPLANE_TOKEN: u.token }) });
    assert.equal(who.code, 0, who.stderr);
    u.child.kill('SIGTERM');
    assert.equal(await exit(u.child), 0, u.out());
  } finally {
    dir.remove();
  }
});

test('triplane up runs the edge joined to its control plane: it routes new sites, survives restarts of up, stops with it', {
  timeout: 300_000,
}, async () => {
  const dir = tempDir('triplane-up-edge-');
  const children: ChildProcess[] = [];
  try {
    const home = join(dir.path, 'home');
    const dataDir = join(dir.path, 'data');
    const port = await freePort();
    const edgePort = await freePort();
    const flags = ['--edge-listen', `127.0.0.1:${edgePort}`, '--no-edge-listen-https'];
    const first = await up(dataDir, port, home, flags);
    children.push(first.child);
    const deadline = Date.now() + 60_000;
    while (!/^edge: http:\/\/127\.0\.0\.1:\d+ /m.test(first.out())) {
      if (Date.now() > deadline || first.child.exitCode !== null) throw new Error(`no edge line:\n${first.out()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(first.out(), new RegExp(`^edge: http://127\\.0\\.0\\.1:${edgePort} \\(state in .*edge\\)`, 'm'));
    assert.match(first.out(), /^edge: edge server local-edge created$/m);
    // the edge listens first (it serves its saved snapshot even with the control plane down), then joins
    for (let i = 0; i < 100 && !existsSync(join(dataDir, 'edge', 'identity.json')); i++)
      await new Promise((r) => setTimeout(r, 100));
    assert.equal(statSync(join(dataDir, 'edge', 'identity.json')).mode & 0o777, 0o600);

    // A site created through the API is routed by the edge (no app server: 503), an unknown host is 421.
    const env = cliEnv(home, { TRIPLANE_API: first.api, TRIPLANE_TOKEN: first.token });
    const site = await triplane(['site', 'create', '--name', 'demo', '--domain', 'demo.localhost', '--no-wait'], { env });
    assert.equal(site.code, 0, site.stderr);
    const status = (host: string) =>
      new Promise<number | undefined>((resolve) => {
        const req = request({ host: '127.0.0.1', port: edgePort, path: '/', headers: { host } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        });
        req.on('error', () => resolve(undefined));
        req.end();
      });
    const until = Date.now() + 30_000;
    while ((await status('demo.localhost')) !== 503) {
      if (Date.now() > until) throw new Error(`the edge never routed demo.localhost:\n${first.out()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(await status('nope.localhost'), 421);
    const servers = await triplane(['server', 'list', '--json'], { env });
    const edge = JSON.parse(servers.stdout).items.find((s: { name: string }) => s.name === 'local-edge');
    assert.equal(edge?.role, 'edge');

    first.child.kill('SIGTERM');
    assert.equal(await exit(first.child), 0, first.out());
    assert.equal(await status('demo.localhost'), undefined, 'the edge stopped with up');

    // The next `up` reuses the edge's identity (no new server) and routes at once.
    const second = await up(dataDir, port, home, flags);
    children.push(second.child);
    const again = Date.now() + 60_000;
    while ((await status('demo.localhost')) !== 503) {
      if (Date.now() > again) throw new Error(`the edge did not come back:\n${second.out()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.doesNotMatch(second.out(), /edge server .* created/);
    second.child.kill('SIGINT');
    assert.equal(await exit(second.child), 0, second.out());
    assert.equal(await status('demo.localhost'), undefined);
  } finally {
    // A failed assertion must not leave `up` (and its control plane and edge) running.
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.map(exit));
    dir.remove();
  }
});
