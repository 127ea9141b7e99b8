import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAgentArgs } from './main.ts';
import { StateDir } from './state-dir.ts';
import { assignedEnv } from './testing/fixtures.ts';

describe('state dir', () => {
  it('persists identity and assignment atomically with mode 0600 in a 0700 dir', async () => {
    const root = await mkdtemp(join(tmpdir(), 'triplane-state-'));
    try {
      const d = new StateDir(join(root, 'agent'));
      await d.init();
      assert.equal(await d.loadIdentity(), undefined);
      assert.equal(await d.loadAssignment(), undefined);
      await d.saveIdentity({ apiUrl: 'http://x', serverId: 'srv_0000000000000001', role: 'app', credential: 'tpa_secret' });
      const assignment = {
        apiVersion: 'triplane/v1' as const,
        kind: 'Assignment' as const,
        serverId: 'srv_0000000000000001',
        revision: 7,
        environments: [assignedEnv(1)],
      };
      await d.saveAssignment({ etag: '"abc"', assignment });
      assert.equal((await stat(d.path)).mode & 0o777, 0o700);
      for (const f of ['identity.json', 'assignment.json']) assert.equal((await stat(d.file(f))).mode & 0o777, 0o600);
      assert.equal((await d.loadIdentity())?.credential, 'tpa_secret');
      assert.deepEqual(await d.loadAssignment(), { etag: '"abc"', assignment });
      // a damaged or foreign assignment file is ignored, never trusted
      await writeFile(d.file('assignment.json'), '{"etag":null,"assignment":{"kind":"nope"}}');
      assert.equal(await d.loadAssignment(), undefined);
      await writeFile(d.file('identity.json'), '{"serverId":1}');
      await assert.rejects(d.loadIdentity(), { code: 'TRIPLANE_ERR_CONFIG' });
      assert.ok((await readFile(d.file('assignment.json'), 'utf8')).length > 0);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('triplane agent arguments', () => {
  it('parses flags, falls back to the environment, and rejects bad input', () => {
    assert.deepEqual(parseAgentArgs(['--api', 'http://127.0.0.1:8800', '--join-token', 'tpj_x', '--state-dir', '/tmp/a'], {}), {
      apiUrl: 'http://127.0.0.1:8800',
      joinToken: 'tpj_x',
      stateDir: '/tmp/a',
      address: undefined,
      webHostIp: undefined,
      intervalMs: undefined,
    });
    const fromEnv = parseAgentArgs([], { TRIPLANE_API: 'https://cp.example.com', TRIPLANE_JOIN_TOKEN: 'tpj_y' });
    assert.equal(fromEnv.apiUrl, 'https://cp.example.com');
    assert.equal(fromEnv.joinToken, 'tpj_y');
    assert.equal(fromEnv.stateDir, '/var/lib/triplane/agent');
    assert.throws(() => parseAgentArgs([], {}), { code: 'TRIPLANE_ERR_VALIDATION' });
    assert.throws(() => parseAgentArgs(['--api', 'ftp://x'], {}), { code: 'TRIPLANE_ERR_VALIDATION' });
    assert.throws(() => parseAgentArgs(['--api', 'http://x', '--interval-ms', '5'], {}), { code: 'TRIPLANE_ERR_VALIDATION' });
    assert.throws(() => parseAgentArgs(['--api', 'http://x', '--bogus'], {}));
  });
});
