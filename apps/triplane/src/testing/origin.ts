import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';

/**
 * For tests that put a real edge in front of a stand-in "pod": create a site (CLI) on an app server
 * joined at 127.0.0.1 and listen on the web port the control plane allocated for it. That port
 * may be held by another process on a shared machine (a real pod of another test file or of `make
 * up`): then the next site gets the next port. The origin answers 404 on /missing, else a
 * cacheable 200.
 */
export async function siteWithOrigin(
  run: (args: string[]) => Promise<{ code: number | null; stdout: string; stderr: string }>,
  snapshot: () => Promise<{ upstreams: { environmentId: string; members: { port: number }[] }[] }>,
  name = 'shop',
): Promise<{ origin: Server; envId: string; site: string; host: string }> {
  for (let n = 0; n < 6; n++) {
    const site = n === 0 ? name : `${name}${n}`;
    const created = await run([
      'site',
      'create',
      '--name',
      site,
      '--domain',
      `${site}.example.test`,
      '--timeout',
      '90',
      '--json',
    ]);
    assert.equal(created.code, 0, created.stderr);
    const envId = JSON.parse(created.stdout).environment.id as string;
    const snap = await snapshot();
    const member = snap.upstreams.find((u) => u.environmentId === envId)?.members[0];
    assert.ok(member, JSON.stringify(snap.upstreams));
    const srv = createServer((req, res) => {
      if (req.url === '/missing') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('nope');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'public, max-age=300' }).end('<p>shop</p>');
    });
    const bound = await new Promise<boolean>((resolve) => {
      srv.once('error', () => resolve(false));
      srv.listen(member.port, '127.0.0.1', () => resolve(true));
    });
    if (bound) return { origin: srv, envId, site, host: `${site}.example.test` };
  }
  throw new Error('no free web port for a stand-in origin after 6 sites');
}
