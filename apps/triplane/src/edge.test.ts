import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BIN, freePort, tempDir } from './testing/cli.ts';

function get(port: number, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const dir = tempDir('triplane-edge-cli-');
after(() => dir.remove());

test('triplane edge --config FILE.yaml routes by Host, survives a bad reload, stops on SIGTERM', async () => {
  const origin = createServer((_req, res) => {
    res.setHeader('cache-control', 'no-store');
    res.end('from the origin');
  });
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  const originPort = (origin.address() as { port: number }).port;
  const port = await freePort();
  const file = join(dir.path, 'edge.yaml');
  writeFileSync(
    file,
    [
      `listen: { http: "127.0.0.1:${port}" }`,
      'sites:',
      '  - name: shop',
      '    hosts: [shop.example.test]',
      `    upstreams: ["http://127.0.0.1:${originPort}"]`,
      '    cache: { profile: wordpress }',
      '    purge: { allow: ["127.0.0.1/32"] }',
      '',
    ].join('\n'),
  );
  const child = spawn(BIN, ['edge', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  try {
    const deadline = Date.now() + 30_000;
    while (!out.includes('edge: listening')) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `edge did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(await get(port, 'shop.example.test'), { status: 200, body: 'from the origin' });
    assert.equal((await get(port, 'other.example.test')).status, 421);

    writeFileSync(file, 'sites: [ {name: broken\n');
    child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await get(port, 'shop.example.test')).status, 200, 'the previous config keeps serving');

    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    origin.close();
  }
});
