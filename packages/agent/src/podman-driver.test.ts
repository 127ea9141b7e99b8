import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { httpProbe } from './podman-driver.ts';

describe('podman driver helpers', () => {
  it('probes over HTTP: < 500 is healthy, 5xx and refused are not, Host header sent', async () => {
    let status = 302;
    let seenHost = '';
    const server = createServer((req, res) => {
      seenHost = req.headers.host ?? '';
      res.writeHead(status).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const o = { host: '127.0.0.1', port, path: '/', hostHeader: 'shop.example.com', timeoutMs: 2000 };
      const ok = await httpProbe(o);
      assert.equal(ok.ok, true);
      assert.equal(ok.status, 302);
      assert.equal(seenHost, 'shop.example.com');
      status = 502;
      assert.deepEqual({ ...(await httpProbe(o)), latencyMs: 0 }, { ok: false, status: 502, latencyMs: 0 });
    } finally {
      await new Promise((r) => server.close(r));
    }
    const refused = await httpProbe({ host: '127.0.0.1', port, path: '/', hostHeader: null, timeoutMs: 2000 });
    assert.equal(refused.ok, false);
    assert.equal(refused.error, 'ECONNREFUSED');
  });
});
