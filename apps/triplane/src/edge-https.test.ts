import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect } from 'node:http2';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PlatformCa } from '@triplane/edge';
import { BIN, freePort, tempDir } from './testing/cli.ts';

const dir = tempDir('triplane-edge-https-');
after(() => dir.remove());

function h2get(port: number, host: string, ca: string[]): Promise<{ status: number; body: string; proto: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(`https://127.0.0.1:${port}`, { servername: host, ca });
    s.on('error', reject);
    const req = s.request({ ':path': '/', ':authority': host });
    let status = 0;
    let body = '';
    req.on('response', (h) => {
      status = Number(h[':status']);
    });
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      s.close();
      resolve({ status, body, proto: s.alpnProtocol ?? '' });
    });
    req.on('error', reject);
    req.end();
  });
}

test('triplane edge --config with listen.https: certificate files relative to the file, platform CA in DIR/tls, HTTP/2', async () => {
  const origin = createServer((req, res) => {
    res.setHeader('cache-control', 'no-store');
    res.end(`proto=${req.headers['x-forwarded-proto']}`);
  });
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  const originPort = (origin.address() as { port: number }).port;
  const operatorCa = await PlatformCa.open({ dir: undefined });
  const pair = await operatorCa.leaf('shop.example.test');
  writeFileSync(join(dir.path, 'shop.crt'), pair.certPem);
  writeFileSync(join(dir.path, 'shop.key'), pair.keyPem);
  const [http, https] = [await freePort(), await freePort()];
  const file = join(dir.path, 'edge.yaml');
  writeFileSync(
    file,
    [
      `listen: { http: "127.0.0.1:${http}", https: "127.0.0.1:${https}" }`,
      'sites:',
      '  - name: shop',
      '    hosts: [shop.example.test]',
      `    upstreams: ["http://127.0.0.1:${originPort}"]`,
      '    tls: { cert: shop.crt, key: shop.key }',
      '  - name: blog',
      '    hosts: [blog.example.test]',
      `    upstreams: ["http://127.0.0.1:${originPort}"]`,
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
    while (!out.includes(`https://127.0.0.1:${https}`)) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `edge did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(await h2get(https, 'shop.example.test', [operatorCa.certPem]), {
      status: 200,
      body: 'proto=https',
      proto: 'h2',
    });
    const platformCa = readFileSync(join(dir.path, 'tls', 'ca.crt'), 'utf8');
    assert.equal((await h2get(https, 'blog.example.test', [platformCa])).status, 200);
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    origin.close();
  }
});
