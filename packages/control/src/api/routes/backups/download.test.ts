import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { FormatRegistry } from '@sinclair/typebox';
import { FakeClock } from '@triplane/testkit';
import { createSite, joinServer, runHandler } from '../../../desired/test-support.ts';
import { siteProvision } from '../../../jobs/handlers/site-provision.ts';
import { createHarness, type Harness } from '../../../testing/harness.ts';

if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => !Number.isNaN(Date.parse(v)));

const HEX = (c: string) => c.repeat(64);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const MAX = 256 * 1024;

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`${dialect}: backup download (backup.export job, artifact upload and download)`, () => {
    let h: Harness;
    let base: string;
    let dir: string;
    const clock = new FakeClock(Date.now());
    let app: { id: string; credential: string };
    let other: { id: string; credential: string };
    let envId: string;
    let backupId: string;
    let exportJobId: string;
    const archive = gzipSync(Buffer.concat([Buffer.from('db.sql'), randomBytes(100_000)]));

    /** A backup recorded through the agent protocol, as the agent does it. */
    let taken = 0;
    async function takeBackup(): Promise<string> {
      const r = await h.call(h.owner.token, 'POST', `/api/v1/environments/${envId}/backups`, {});
      assert.equal(r.statusCode, 202, r.body);
      const job = r.json().job;
      const c = await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/claim`, {
        owner: 'run-b',
        kinds: ['backup.create'],
      });
      assert.equal(c.json().job.id, job.id);
      const id = job.params.backupId as string;
      const rec = await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/${job.id}/backups`, {
        owner: 'run-b',
        backupId: id,
        environmentId: envId,
        kind: 'manual',
        dbSnapshotId: HEX('a'),
        filesSnapshotId: HEX(String(++taken)),
        snapshotTime: '2026-11-25T03:04:05.000Z',
        dbBytes: 1000,
        filesBytes: 2000,
        addedBytes: 500,
      });
      assert.equal(rec.statusCode, 200, rec.body);
      await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/${job.id}/complete`, { owner: 'run-b', result: {} });
      return id;
    }

    const upload = (
      srv: { id: string; credential: string },
      jobId: string,
      body: RequestInit['body'] | AsyncIterable<Uint8Array>,
      o: { owner?: string; type?: string } = {},
    ) =>
      fetch(`${base}/api/v1/agents/${srv.id}/jobs/${jobId}/artifact?owner=${o.owner ?? 'run-x'}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${srv.credential}`, 'content-type': o.type ?? 'application/gzip' },
        body: body as RequestInit['body'],
        duplex: 'half',
      } as RequestInit);

    /** A streamed (chunked, no content-length) body, as the agent sends it. */
    async function* chunks(b: Buffer, fail = false): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < b.length; i += 16 * 1024) {
        yield b.subarray(i, i + 16 * 1024);
        await new Promise((r) => setTimeout(r, 1));
        if (fail && i > b.length / 2) throw new Error('restic died');
      }
    }

    const leftovers = () => (existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.part')) : []);

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), `triplane-artifacts-${dialect}-`));
      h = await createHarness({ dialect, clock, artifactsDir: dir, artifactMaxBytes: MAX });
      base = await h.app.listen({ host: '127.0.0.1', port: 0 });
      app = await joinServer(h, 'dl-app', 'app', '10.4.0.1');
      const s = await createSite(h, h.owner.token, { name: 'dl-shop', domains: ['dl-shop.example.com'] });
      await runHandler(h, siteProvision, s.jobId);
      other = await joinServer(h, 'dl-other', 'app', '10.4.0.2');
      envId = s.environmentId;
      backupId = await takeBackup();
    });
    after(async () => {
      await h.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test('POST /backups/{id}/download: a low-lane backup.export job on the backup’s server; refusals like restore', async () => {
      const viewer = await h.makeUser('viewer');
      assert.equal((await h.call(viewer.token, 'POST', `/api/v1/backups/${backupId}/download`, {})).statusCode, 403);
      const o2 = await h.makeOrg(`dl-org-${dialect}`);
      assert.equal((await h.call(o2.owner.token, 'POST', `/api/v1/backups/${backupId}/download`, {})).statusCode, 404);
      assert.equal((await h.call(h.owner.token, 'POST', '/api/v1/backups/bak_zzzzzzzzzzzzzzzz/download', {})).statusCode, 404);
      const pruned = await takeBackup();
      await h.store.db.updateTable('backups').set({ state: 'pruned' }).where('id', '=', pruned).execute();
      const p = await h.call(h.owner.token, 'POST', `/api/v1/backups/${pruned}/download`, {});
      assert.equal(p.statusCode, 409);
      assert.equal(p.json().error.code, 'TRIPLANE_ERR_BACKUP_PRUNED');

      const dev = await h.makeUser('developer');
      const r = await h.call(dev.token, 'POST', `/api/v1/backups/${backupId}/download`, {});
      assert.equal(r.statusCode, 202, r.body);
      const job = r.json().job;
      assert.equal(job.kind, 'backup.export');
      assert.equal(job.lane, 'low');
      assert.equal(job.serverId, app.id);
      assert.equal(job.environmentId, null, 'runs even if the environment moved away');
      assert.equal(job.params.environmentId, envId);
      assert.equal(job.params.dbSnapshotId, HEX('a'));
      assert.equal(job.params.filesSnapshotId, HEX('1'));
      assert.equal(job.params.filename, 'dl-shop-production-20261125-030405.tar.gz');
      exportJobId = job.id;
      const audit = await h.store.db.selectFrom('audit_log').selectAll().where('action', '=', 'backup.download').execute();
      assert.equal(audit.length, 1);
      assert.equal(audit[0]?.target_id, backupId);

      const early = await h.call(h.owner.token, 'GET', `/api/v1/jobs/${job.id}/artifact`);
      assert.equal(early.statusCode, 409);
      assert.equal(early.json().error.code, 'TRIPLANE_ERR_ARTIFACT_NOT_READY');
      assert.equal(
        (
          await h.call(other.credential, 'POST', `/api/v1/agents/${other.id}/jobs/claim`, {
            owner: 'run-x',
            kinds: ['backup.export'],
          })
        ).json().job,
        null,
      );
    });

    test('PUT …/artifact: only the server holding the lease, gzip only, capped, partial uploads dropped', async () => {
      // Not claimed yet: no lease.
      const before = await upload(app, exportJobId, archive);
      assert.equal(before.status, 409, await before.clone().text());
      assert.equal(((await before.json()) as { error: { code: string } }).error.code, 'TRIPLANE_ERR_CONFLICT');
      const c = await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/claim`, {
        owner: 'run-x',
        kinds: ['backup.export'],
      });
      assert.equal(c.json().job.id, exportJobId);
      assert.equal(c.json().job.environmentId, null);

      assert.equal(
        (await upload({ id: app.id, credential: other.credential }, exportJobId, archive)).status,
        403,
        'for another server',
      );
      assert.equal((await upload(other, exportJobId, archive)).status, 409, 'not its job');
      assert.equal((await upload(app, exportJobId, archive, { owner: 'run-y' })).status, 409, 'another agent run');
      assert.equal(
        (await h.call(h.owner.token, 'PUT', `/api/v1/agents/${app.id}/jobs/${exportJobId}/artifact?owner=run-x`)).statusCode,
        403,
        'a user',
      );
      const json = await upload(app, exportJobId, '{}', { type: 'application/json' });
      assert.equal(json.status, 415);
      const notGz = await upload(app, exportJobId, chunks(randomBytes(50_000)));
      assert.equal(notGz.status, 415);
      assert.equal(((await notGz.json()) as { error: { code: string } }).error.code, 'TRIPLANE_ERR_UNSUPPORTED_MEDIA_TYPE');
      // Over the cap: with a content-length at once, streamed once the cap is passed.
      const big = gzipSync(randomBytes(MAX + 10_000), { level: 0 });
      const declared = await upload(app, exportJobId, big);
      assert.equal(declared.status, 413);
      const streamed = await upload(app, exportJobId, chunks(big)).catch((e: Error) => e);
      assert.ok(streamed instanceof Response, String(streamed));
      assert.equal(streamed.status, 413);
      // An upload the agent breaks off (restic failed mid-stream) leaves nothing behind.
      await assert.rejects(
        upload(app, exportJobId, chunks(gzipSync(randomBytes(200_000), { level: 0 }), true)).then((r) => r.text()),
      );
      for (let i = 0; i < 50 && leftovers().length; i++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(leftovers(), []);
      assert.ok(!existsSync(join(dir, `${exportJobId}.tar.gz`)));

      const ok = await upload(app, exportJobId, chunks(archive));
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { ok: true, bytes: archive.length, sha256: sha256(archive) });
      const st = statSync(join(dir, `${exportJobId}.tar.gz`));
      assert.equal(st.size, archive.length);
      assert.equal(st.mode & 0o777, 0o600);
      assert.deepEqual(leftovers(), []);
      const done = await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/${exportJobId}/complete`, {
        owner: 'run-x',
        result: { artifact: { bytes: archive.length, sha256: sha256(archive) } },
      });
      assert.deepEqual(done.json(), { ok: true, outcome: 'succeeded' });
      assert.equal((await upload(app, exportJobId, archive)).status, 409, 'no upload after completion');
    });

    test('GET /jobs/{id}/artifact: developers of the site get the archive for 24 h', async () => {
      const dev = await h.makeUser('developer');
      const res = await fetch(`${base}/api/v1/jobs/${exportJobId}/artifact`, {
        headers: { authorization: `Bearer ${dev.token}` },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/gzip');
      assert.equal(res.headers.get('content-length'), String(archive.length));
      assert.equal(res.headers.get('content-disposition'), 'attachment; filename="dl-shop-production-20261125-030405.tar.gz"');
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(sha256(body), sha256(archive));
      const job = (await h.call(dev.token, 'GET', `/api/v1/jobs/${exportJobId}`)).json();
      assert.equal(job.result.artifact.sha256, sha256(archive));

      const viewer = await h.makeUser('viewer');
      assert.equal((await h.call(viewer.token, 'GET', `/api/v1/jobs/${exportJobId}/artifact`)).statusCode, 403);
      const o2 = await h.makeOrg(`dl-org2-${dialect}`);
      assert.equal((await h.call(o2.owner.token, 'GET', `/api/v1/jobs/${exportJobId}/artifact`)).statusCode, 404);
      assert.equal((await h.call(app.credential, 'GET', `/api/v1/jobs/${exportJobId}/artifact`)).statusCode, 403, 'servers');
      // Another kind of job has no archive.
      const other = await h.store.db
        .selectFrom('jobs')
        .select('id')
        .where('kind', '=', 'backup.create')
        .executeTakeFirstOrThrow();
      assert.equal((await h.call(h.owner.token, 'GET', `/api/v1/jobs/${other.id}/artifact`)).statusCode, 404);

      clock.advance(24 * 3600_000 + 60_000);
      const gone = await h.call(dev.token, 'GET', `/api/v1/jobs/${exportJobId}/artifact`);
      assert.equal(gone.statusCode, 410);
      assert.equal(gone.json().error.code, 'TRIPLANE_ERR_ARTIFACT_EXPIRED');
      assert.ok(!existsSync(join(dir, `${exportJobId}.tar.gz`)), 'deleted');
    });
  });
}
