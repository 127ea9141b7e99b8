import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSite, joinServer, runHandler } from '@triplane/control/desired/test-support';
import { siteProvision } from '@triplane/control/jobs/handlers/site-provision';
import { createHarness, type Harness } from '@triplane/control/testing/harness';
import type { AssignedEnvironment } from '@triplane/spec';
import type { AgentJobRunner, JobLink } from '../jobs/runner.ts';
import { podIdentity } from '../podman/runtime-spec.ts';
import { fileJobRunner } from './runner.ts';

/**
 * The file manager end to end minus Podman: a REAL control plane on a loopback port, the
 * agent's REAL interactive runner (files/runner.ts) running each operation in the real child
 * (files/job-main.ts). Only `podman` is a stand-in script on PATH answering `volume inspect`
 * with a temp directory (the pod integration test uses the real one).
 */
describe('file manager: API ⇄ interactive agent runner ⇄ volume', () => {
  let h: Harness;
  let apiUrl: string;
  let srv: { id: string; credential: string };
  let envId: string;
  let base: string;
  let root: string;
  let runner: AgentJobRunner;
  let beat: ReturnType<typeof setInterval> | undefined;
  const oldPath = process.env.PATH;

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'tp-fm-api-'));
    const bin = join(base, 'bin');
    await mkdir(bin);
    // `podman volume inspect --format {{.Mountpoint}} NAME` → $TP_FAKE_VOLUMES/NAME/_data
    await writeFile(
      join(bin, 'podman'),
      '#!/bin/sh\n[ "$1 $2" = "volume inspect" ] || { echo "unsupported: $*" >&2; exit 125; }\nfor a; do last=$a; done\nd="$TP_FAKE_VOLUMES/$last/_data"\n[ -d "$d" ] || { echo "Error: no such volume $last" >&2; exit 125; }\necho "$d"\n',
    );
    await chmod(join(bin, 'podman'), 0o755);
    process.env.PATH = `${bin}:${oldPath}`;
    process.env.TP_FAKE_VOLUMES = join(base, 'volumes');

    h = await createHarness({ dialect: 'sqlite' });
    apiUrl = await h.app.listen({ host: '127.0.0.1', port: 0 });
    srv = await joinServer(h, 'fm-runner-app', 'app', '127.0.0.1');
    const s = await createSite(h, h.owner.token, { name: 'fmx-shop' });
    await runHandler(h, siteProvision, s.jobId);
    envId = s.environmentId;
    const a = (await h.call(srv.credential, 'GET', `/api/v1/agents/${srv.id}/assignment`)).json();
    const env = (a.environments as AssignedEnvironment[]).find((e) => e.id === envId);
    assert.ok(env, 'the environment is assigned to the server');
    const { siteId, envName } = podIdentity(env);
    root = join(base, 'volumes', `${siteId}-${envName}-wp-content`, '_data');
    await mkdir(join(root, 'uploads'), { recursive: true });
    await writeFile(join(root, 'index.php'), '<?php\n');
    await symlink('/etc', join(root, 'etc'));

    const link: JobLink = {
      serverId: srv.id,
      async call<T>(method: string, path: string, body?: unknown, o: { timeoutMs?: number; signal?: AbortSignal } = {}) {
        const res = await fetch(`${apiUrl}/api/v1${path}`, {
          method,
          headers: { authorization: `Bearer ${srv.credential}`, 'content-type': 'application/json' },
          body: body === undefined ? null : JSON.stringify(body),
          signal: AbortSignal.any([AbortSignal.timeout(o.timeoutMs ?? 15_000), ...(o.signal ? [o.signal] : [])]),
        });
        if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
        return (await res.json()) as T;
      },
    };
    // online while it heartbeats (the control link does this in the real agent)
    beat = setInterval(() => void link.call('POST', `/agents/${srv.id}/heartbeat`, {}).catch(() => undefined), 5000);
    runner = fileJobRunner({ link, lookup: (id) => (id === envId ? env : undefined), stateDir: base, waitS: 2 });
    runner.start();
  });
  after(async () => {
    clearInterval(beat);
    await runner?.stop();
    await h?.close();
    process.env.PATH = oldPath;
    delete process.env.TP_FAKE_VOLUMES;
    await rm(base, { recursive: true, force: true });
  });

  const api = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${apiUrl}/api/v1/environments/${envId}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${h.owner.token}`,
        ...(body !== undefined && !Buffer.isBuffer(body) ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? null : Buffer.isBuffer(body) ? body : JSON.stringify(body),
    });

  it('lists, writes (raw and text), reads back, makes a directory and deletes', async () => {
    let r = await api('GET', '/files');
    assert.equal(r.status, 200, await r.clone().text());
    const listing = (await r.json()) as { entries: { name: string; type: string; target?: string }[] };
    assert.deepEqual(
      listing.entries.map((e) => [e.name, e.type]),
      [
        ['uploads', 'dir'],
        ['etc', 'symlink'],
        ['index.php', 'file'],
      ],
    );
    r = await api('PUT', '/files/content?path=uploads/logo.bin', Buffer.from([0, 255, 1, 254]), {
      'content-type': 'application/octet-stream',
    });
    assert.equal(r.status, 200, await r.clone().text());
    assert.deepEqual(await readFile(join(root, 'uploads/logo.bin')), Buffer.from([0, 255, 1, 254]));
    r = await api('PUT', '/files/content?path=index.php', { text: '<?php echo "hi";\n' });
    assert.equal(r.status, 200);
    r = await api('GET', '/files/content?path=index.php');
    assert.equal(r.status, 200);
    assert.equal(await r.text(), '<?php echo "hi";\n');
    r = await api('POST', '/files/mkdir', { path: 'uploads/2026' });
    assert.equal(r.status, 200, await r.clone().text());
    assert.ok((await stat(join(root, 'uploads/2026'))).isDirectory());
    r = await api('DELETE', '/files?path=uploads');
    assert.equal(r.status, 409, 'not empty');
    r = await api('DELETE', '/files?path=uploads&recursive=true');
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { removed: 3 });
  });

  it('a 4 MiB file goes up and comes back intact (agent bodies above the default 1 MiB limit)', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
    let r = await api('PUT', '/files/content?path=big.bin', big, { 'content-type': 'application/octet-stream' });
    assert.equal(r.status, 200, await r.clone().text());
    r = await api('GET', '/files/content?path=big.bin');
    assert.equal(r.status, 200, await r.clone().text());
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(big));
  });

  it('traversal is refused: .., encoded .., absolute, NUL, a symlink to /etc', async () => {
    const cases: [string, number, string][] = [
      ['/files?path=..', 400, 'TRIPLANE_ERR_VALIDATION'],
      ['/files?path=uploads%2F..%2F..', 400, 'TRIPLANE_ERR_VALIDATION'],
      ['/files/content?path=%2Fetc%2Fpasswd', 400, 'TRIPLANE_ERR_VALIDATION'],
      ['/files/content?path=etc%2Fpasswd', 422, 'TRIPLANE_ERR_UNPROCESSABLE'],
      ['/files?path=etc', 422, 'TRIPLANE_ERR_UNPROCESSABLE'],
      ['/files/content?path=%252e%252e%2Fetc%2Fpasswd', 404, 'TRIPLANE_ERR_NOT_FOUND'],
      ['/files?path=a%00b', 400, 'TRIPLANE_ERR_VALIDATION'],
    ];
    for (const [path, status, code] of cases) {
      const r = await api('GET', path);
      const body = (await r.json()) as { error: { code: string } };
      assert.equal(r.status, status, `${path}: ${JSON.stringify(body)}`);
      assert.equal(body.error.code, code, path);
    }
    const link = (await (await api('GET', '/files?path=etc')).json()) as { error: { details: Record<string, string> } };
    assert.equal(link.error.details.reason, 'symlink', 'the agent’s details reach the caller');
    assert.match(link.error.details.jobId ?? '', /^job_/);
    const w = await api('PUT', '/files/content?path=etc%2Fcron.d%2Fx', { text: '* * * * * root id\n' });
    assert.equal(w.status, 422);
    await assert.rejects(stat('/etc/cron.d/x'), { code: 'ENOENT' });
  });
});
