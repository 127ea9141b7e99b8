import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FormatRegistry } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Assignment, EdgeSnapshot } from '@triplane/spec';
import { createSite, joinServer, runHandler } from '../../../desired/test-support.ts';
import { environmentActionHandler } from '../../../jobs/handlers/environment-action.ts';
import { siteDelete } from '../../../jobs/handlers/site-delete.ts';
import { siteProvision } from '../../../jobs/handlers/site-provision.ts';
import { createHarness, type Harness } from '../../../testing/harness.ts';

if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => !Number.isNaN(Date.parse(v)));

const revision = async (h: Harness) =>
  Number((await h.store.db.selectFrom('state_revision').select('revision').executeTakeFirstOrThrow()).revision);

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`${dialect}: agents and desired state`, () => {
    let h: Harness;
    before(async () => {
      h = await createHarness({ dialect, maxWatchMs: 10_000 });
    });
    after(() => h.close());

    test('a join token works once, and only before it expires', async () => {
      const c = await h.call(h.owner.token, 'POST', '/api/v1/servers', { name: 'join-once', role: 'app' });
      const token = c.json().joinToken as string;
      assert.match(token, /^tpj_/);
      const row = await h.store.db
        .selectFrom('servers')
        .selectAll()
        .where('id', '=', c.json().server.id)
        .executeTakeFirstOrThrow();
      assert.notEqual(row.join_token_hash, token, 'stored hashed');
      const j = await h.call(null, 'POST', '/api/v1/agents/join', { joinToken: token, address: '10.1.0.1' });
      assert.equal(j.statusCode, 200, j.body);
      assert.match(j.json().credential, /^tpa_/);
      const again = await h.call(null, 'POST', '/api/v1/agents/join', { joinToken: token });
      assert.equal(again.statusCode, 401);
      assert.equal(again.json().error.code, 'TRIPLANE_ERR_UNAUTHENTICATED');
      // An expired token is refused too.
      const d = await h.call(h.owner.token, 'POST', '/api/v1/servers', { name: 'join-late', role: 'app' });
      await h.store.db
        .updateTable('servers')
        .set({ join_token_expires_at: '2000-01-01T00:00:00.000Z' })
        .where('id', '=', d.json().server.id)
        .execute();
      assert.equal((await h.call(null, 'POST', '/api/v1/agents/join', { joinToken: d.json().joinToken })).statusCode, 401);
      assert.equal((await h.call(null, 'POST', '/api/v1/agents/join', { joinToken: 'tpj_nonsense-nonsense' })).statusCode, 401);
      // The credential authenticates as the server.
      const hb = await h.call(j.json().credential, 'POST', `/api/v1/agents/${j.json().serverId}/heartbeat`, {
        facts: { cpus: 4 },
      });
      assert.equal(hb.statusCode, 200, hb.body);
      assert.equal(hb.json().status, 'online');
    });

    test('heartbeat and status: only the server itself; offline after 60 s without heartbeat', async () => {
      const a = await joinServer(h, 'hb-a', 'app');
      const b = await joinServer(h, 'hb-b', 'app');
      const url = `/api/v1/agents/${a.id}/heartbeat`;
      assert.equal((await h.call(null, 'POST', url, {})).statusCode, 401);
      assert.equal((await h.call(b.credential, 'POST', url, {})).statusCode, 403);
      assert.equal((await h.call(h.owner.token, 'POST', url, {})).statusCode, 403);
      assert.equal((await h.call(a.credential, 'POST', url, { facts: { bogus: 1 } })).statusCode, 400);
      assert.equal((await h.call(a.credential, 'POST', url, { facts: { cpus: 8, memoryBytes: 1024 } })).statusCode, 200);
      let s = (await h.call(h.owner.token, 'GET', `/api/v1/servers/${a.id}`)).json();
      assert.equal(s.status, 'online');
      assert.equal(s.facts.cpus, 8);
      await h.store.db
        .updateTable('servers')
        .set({ last_heartbeat_at: new Date(Date.now() - 61_000).toISOString() })
        .where('id', '=', a.id)
        .execute();
      s = (await h.call(h.owner.token, 'GET', `/api/v1/servers/${a.id}`)).json();
      assert.equal(s.status, 'offline');
      assert.equal((await h.call(b.credential, 'POST', `/api/v1/agents/${a.id}/status`, { environments: [] })).statusCode, 403);
      // Servers can't use user endpoints.
      assert.equal((await h.call(a.credential, 'GET', '/api/v1/sites')).statusCode, 403);
    });

    test('no app server online: provisioning waits; a joining server takes the environment', async () => {
      // Every app server made so far goes offline.
      await h.store.db.updateTable('servers').set({ last_heartbeat_at: '2000-01-01T00:00:00.000Z' }).execute();
      const s = await createSite(h, h.owner.token, { name: 'waiting', domains: ['waiting.example.com'] });
      const result = (await runHandler(h, siteProvision, s.jobId)) as { serverIds: string[]; status: string };
      assert.deepEqual(result.serverIds, []);
      let env = (await h.call(h.owner.token, 'GET', `/api/v1/environments/${s.environmentId}`)).json();
      assert.equal(env.status, 'pending');
      assert.equal(env.statusMessage, 'waiting for an app server');
      assert.equal(env.runtime.unixUser, 'tp-waiting-production');
      const srv = await joinServer(h, 'late-app', 'app', '10.9.0.1');
      env = (await h.call(h.owner.token, 'GET', `/api/v1/environments/${s.environmentId}`)).json();
      assert.deepEqual(env.serverIds, [srv.id]);
      assert.equal(env.status, 'provisioning');
      assert.equal(env.runtime.webPorts[srv.id], 20000);
      // Rerunning the job changes nothing (idempotent).
      const r0 = await revision(h);
      await runHandler(h, siteProvision, s.jobId);
      assert.equal(await revision(h), r0);
    });

    test('assignment: content, ETag/304, long-poll wakes on change, access rules', async () => {
      const srv = await joinServer(h, 'assign-app', 'app', '10.2.0.1');
      const other = await joinServer(h, 'assign-other', 'app', '10.2.0.2');
      // Only this server is online, so placement picks it.
      await h.store.db
        .updateTable('servers')
        .set({ last_heartbeat_at: '2000-01-01T00:00:00.000Z' })
        .where('id', '!=', srv.id)
        .execute();
      const s = await createSite(h, h.owner.token, { name: 'assigned', kind: 'woocommerce', domains: ['assigned.example.com'] });
      await runHandler(h, siteProvision, s.jobId);
      const url = `/api/v1/agents/${srv.id}/assignment`;
      const r = await h.call(srv.credential, 'GET', url);
      assert.equal(r.statusCode, 200, r.body);
      const a = r.json();
      assert.equal(Value.Check(Assignment, a), true, JSON.stringify([...Value.Errors(Assignment, a)].slice(0, 3)));
      assert.equal(a.apiVersion, 'triplane/v1');
      assert.equal(a.kind, 'Assignment');
      const e = a.environments.find((x: { id: string }) => x.id === s.environmentId);
      assert.ok(e, 'the environment is assigned');
      assert.equal(e.siteName, 'assigned');
      assert.deepEqual(e.domains, ['assigned.example.com']);
      assert.equal(e.runtime.unixUser, 'tp-assigned-production');
      assert.ok(e.runtime.webPort >= 20000 && e.runtime.webPort <= 29999);
      const etag = r.headers.etag as string;
      assert.match(etag, /^"[A-Za-z0-9_-]{43}"$/);
      const same = await h.call(srv.credential, 'GET', url, undefined, { 'if-none-match': etag });
      assert.equal(same.statusCode, 304);
      assert.equal(same.body, '');
      const timedOut = Date.now();
      assert.equal((await h.call(srv.credential, 'GET', `${url}?wait=1`, undefined, { 'if-none-match': etag })).statusCode, 304);
      assert.ok(Date.now() - timedOut >= 900, 'held for the wait');
      // A change during the wait answers 200 promptly.
      const started = Date.now();
      const pending = h.call(srv.credential, 'GET', `${url}?wait=8`, undefined, { 'if-none-match': etag });
      await new Promise((res) => setTimeout(res, 300));
      const patch = await h.call(h.owner.token, 'PATCH', `/api/v1/environments/${s.environmentId}`, { php: { workers: 6 } });
      assert.equal(patch.statusCode, 200, patch.body);
      const woke = await pending;
      assert.equal(woke.statusCode, 200);
      assert.ok(Date.now() - started < 4000, `answered in ${Date.now() - started} ms`);
      assert.notEqual(woke.headers.etag, etag);
      assert.equal(woke.json().environments.find((x: { id: string }) => x.id === s.environmentId).php.workers, 6);
      // Access: another server 403, a superuser may read, other users 403, unknown 404.
      assert.equal((await h.call(other.credential, 'GET', url)).statusCode, 403);
      assert.equal((await h.call(h.owner.token, 'GET', url)).statusCode, 200);
      const admin = await h.makeUser('admin');
      assert.equal((await h.call(admin.token, 'GET', url)).statusCode, 403);
      assert.equal((await h.call(null, 'GET', url)).statusCode, 401);
      assert.equal((await h.call(h.owner.token, 'GET', '/api/v1/agents/srv_0000000000000000/assignment')).statusCode, 404);
      // The other server's assignment does not list it.
      const o = (await h.call(other.credential, 'GET', `/api/v1/agents/${other.id}/assignment`)).json();
      assert.ok(!o.environments.some((x: { id: string }) => x.id === s.environmentId));
    });

    test('edge snapshot: routes, upstreams, policies; ETag/304/long-poll; edge servers and superusers only', async () => {
      const edge = await joinServer(h, 'edge-1', 'edge', '10.3.0.1');
      const app = await joinServer(h, 'snap-app', 'app', '10.3.0.2');
      await h.store.db
        .updateTable('servers')
        .set({ last_heartbeat_at: '2000-01-01T00:00:00.000Z' })
        .where('id', 'not in', [app.id, edge.id])
        .execute();
      const s = await createSite(h, h.owner.token, { name: 'snap', domains: ['snap.example.com', 'www.snap.example.com'] });
      await runHandler(h, siteProvision, s.jobId);
      const r = await h.call(edge.credential, 'GET', '/api/v1/edge/snapshot');
      assert.equal(r.statusCode, 200, r.body);
      const snap = r.json();
      assert.equal(Value.Check(EdgeSnapshot, snap), true, JSON.stringify([...Value.Errors(EdgeSnapshot, snap)].slice(0, 3)));
      const routes = snap.routes.filter((x: { environmentId: string }) => x.environmentId === s.environmentId);
      assert.deepEqual(routes, [
        { hostname: 'snap.example.com', environmentId: s.environmentId, siteId: s.siteId, primary: true, redirectTo: null },
        {
          hostname: 'www.snap.example.com',
          environmentId: s.environmentId,
          siteId: s.siteId,
          primary: false,
          redirectTo: 'snap.example.com',
        },
      ]);
      const up = snap.upstreams.find((x: { environmentId: string }) => x.environmentId === s.environmentId);
      assert.equal(up.policy, 'round-robin');
      const envNow = (await h.call(h.owner.token, 'GET', `/api/v1/environments/${s.environmentId}`)).json();
      assert.deepEqual(up.members, [{ serverId: app.id, address: '10.3.0.2', port: envNow.runtime.webPorts[app.id] }]);
      assert.equal(
        snap.policies.find((x: { environmentId: string }) => x.environmentId === s.environmentId).cache.profile,
        'wordpress',
      );
      assert.deepEqual(snap.certificates, []);
      const etag = r.headers.etag as string;
      // Same content → same ETag, although generatedAt moves.
      const again = await h.call(edge.credential, 'GET', '/api/v1/edge/snapshot');
      assert.equal(again.headers.etag, etag);
      assert.equal(
        (await h.call(edge.credential, 'GET', '/api/v1/edge/snapshot', undefined, { 'if-none-match': etag })).statusCode,
        304,
      );
      const started = Date.now();
      const pending = h.call(edge.credential, 'GET', '/api/v1/edge/snapshot?wait=8', undefined, { 'if-none-match': etag });
      await new Promise((res) => setTimeout(res, 300));
      const dom = await h.call(h.owner.token, 'POST', `/api/v1/environments/${s.environmentId}/domains`, {
        hostname: 'new.snap.example.com',
      });
      assert.equal(dom.statusCode, 201);
      const woke = await pending;
      assert.equal(woke.statusCode, 200);
      assert.ok(Date.now() - started < 4000);
      assert.ok(woke.json().routes.some((x: { hostname: string }) => x.hostname === 'new.snap.example.com'));
      // Access.
      assert.equal((await h.call(app.credential, 'GET', '/api/v1/edge/snapshot')).statusCode, 403);
      assert.equal((await h.call(h.owner.token, 'GET', '/api/v1/edge/snapshot')).statusCode, 200);
      const admin = await h.makeUser('admin');
      assert.equal((await h.call(admin.token, 'GET', '/api/v1/edge/snapshot')).statusCode, 403);
      assert.equal((await h.call(null, 'GET', '/api/v1/edge/snapshot')).statusCode, 401);
    });

    test('status reports set status and observed; actions wait for the reported generation; delete drains', async () => {
      const srv = await joinServer(h, 'life-app', 'app', '10.4.0.1');
      await h.store.db
        .updateTable('servers')
        .set({ last_heartbeat_at: '2000-01-01T00:00:00.000Z' })
        .where('id', '!=', srv.id)
        .execute();
      const s = await createSite(h, h.owner.token, { name: 'life' });
      await runHandler(h, siteProvision, s.jobId);
      const report = (generation: number) => ({
        environments: [
          {
            id: s.environmentId,
            status: 'running',
            generation,
            containers: [{ name: 'web', state: 'running', restarts: 0, cpuPercent: 1.5, memoryBytes: 1000 }],
          },
          { id: 'env_0000000000000000', status: 'running' },
        ],
      });
      const st = await h.call(srv.credential, 'POST', `/api/v1/agents/${srv.id}/status`, report(1));
      assert.equal(st.statusCode, 200, st.body);
      assert.deepEqual(st.json(), { accepted: 1, ignored: ['env_0000000000000000'] });
      let env = (await h.call(h.owner.token, 'GET', `/api/v1/environments/${s.environmentId}`)).json();
      assert.equal(env.status, 'running');
      assert.equal(env.observed[0].serverId, srv.id);
      assert.equal(env.observed[0].containers[0].name, 'web');

      // Restart: the job bumps the generation and waits until the agent reports it.
      const act = await h.call(h.owner.token, 'POST', `/api/v1/environments/${s.environmentId}/actions/restart`);
      const running = runHandler(h, environmentActionHandler, act.json().job.id, { params: { confirmTimeoutMs: 8000 } });
      await new Promise((res) => setTimeout(res, 300));
      await h.call(srv.credential, 'POST', `/api/v1/agents/${srv.id}/status`, report(2));
      const out = (await running) as { generation: number; confirmedByAgents: boolean };
      assert.deepEqual([out.generation, out.confirmedByAgents], [2, true]);
      // A rerun of the same job does not restart again.
      const again = (await runHandler(h, environmentActionHandler, act.json().job.id, { params: { confirmTimeoutMs: 0 } })) as {
        generation: number;
      };
      assert.equal(again.generation, 2);
      const stop = await h.call(h.owner.token, 'POST', `/api/v1/environments/${s.environmentId}/actions/stop`);
      await runHandler(h, environmentActionHandler, stop.json().job.id, { params: { confirmTimeoutMs: 0 } });
      env = (await h.call(h.owner.token, 'GET', `/api/v1/environments/${s.environmentId}`)).json();
      assert.equal(env.desiredState, 'stopped');
      assert.equal(env.generation, 3);

      // Delete: leaves the assignment at once; the job waits for the agent to stop reporting it.
      const del = await h.call(h.owner.token, 'DELETE', `/api/v1/sites/${s.siteId}?confirm=life&backup=false`);
      assert.equal(del.statusCode, 202);
      const asg = (await h.call(srv.credential, 'GET', `/api/v1/agents/${srv.id}/assignment`)).json();
      assert.ok(!asg.environments.some((x: { id: string }) => x.id === s.environmentId));
      const deleting = runHandler(h, siteDelete, del.json().job.id, { params: { drainTimeoutMs: 8000 } });
      await new Promise((res) => setTimeout(res, 300));
      assert.ok(await h.store.db.selectFrom('sites').select('id').where('id', '=', s.siteId).executeTakeFirst(), 'still waiting');
      await h.call(srv.credential, 'POST', `/api/v1/agents/${srv.id}/status`, { environments: [] });
      const done = (await deleting) as { deleted: boolean; confirmedByAgents: boolean };
      assert.deepEqual([done.deleted, done.confirmedByAgents], [true, true]);
      assert.equal((await h.call(h.owner.token, 'GET', `/api/v1/sites/${s.siteId}`)).statusCode, 404);
      assert.equal(
        (await h.store.db.selectFrom('environments').select('id').where('site_id', '=', s.siteId).execute()).length,
        0,
        'environments cascade',
      );
      const audit = await h.store.db
        .selectFrom('audit_log')
        .select(['action', 'actor_type'])
        .where('target_id', '=', s.siteId)
        .orderBy('id')
        .execute();
      assert.deepEqual(
        audit.map((x) => `${x.action}/${x.actor_type}`),
        ['site.create/user', 'site.delete/user', 'site.deleted/system'],
      );
      // Rerun after the rows are gone: success, nothing to do.
      assert.deepEqual(await runHandler(h, siteDelete, del.json().job.id), {
        siteId: s.siteId,
        deleted: true,
        alreadyGone: true,
      });
    });

    test('servers are platform-level: superuser only; delete refused while environments are placed', async () => {
      const admin = await h.makeUser('owner');
      assert.equal((await h.call(admin.token, 'GET', '/api/v1/servers')).statusCode, 403);
      assert.equal((await h.call(admin.token, 'POST', '/api/v1/servers', { name: 'nope', role: 'app' })).statusCode, 403);
      assert.equal((await h.call(null, 'GET', '/api/v1/servers')).statusCode, 401);
      assert.equal((await h.call(h.owner.token, 'POST', '/api/v1/servers', { name: 'life-app', role: 'app' })).statusCode, 409);
      assert.equal((await h.call(h.owner.token, 'POST', '/api/v1/servers', { name: 'x1', role: 'db' })).statusCode, 400);
      const list = (await h.call(h.owner.token, 'GET', '/api/v1/servers')).json();
      assert.ok(list.items.length >= 3);
      assert.ok(!JSON.stringify(list).includes('hash'), 'no hashes in answers');
      const busy = list.items.find((x: { environmentCount: number }) => x.environmentCount > 0);
      assert.ok(busy);
      const detail = (await h.call(h.owner.token, 'GET', `/api/v1/servers/${busy.id}`)).json();
      assert.equal(detail.environments.length, busy.environmentCount);
      const refused = await h.call(h.owner.token, 'DELETE', `/api/v1/servers/${busy.id}`);
      assert.equal(refused.statusCode, 409);
      const idle = await h.call(h.owner.token, 'POST', '/api/v1/servers', { name: 'idle', role: 'app' });
      const rotated = await h.call(h.owner.token, 'POST', `/api/v1/servers/${idle.json().server.id}/join-token`);
      assert.equal(rotated.statusCode, 201);
      assert.equal(
        (await h.call(null, 'POST', '/api/v1/agents/join', { joinToken: idle.json().joinToken })).statusCode,
        401,
        'old token void',
      );
      assert.equal((await h.call(h.owner.token, 'DELETE', `/api/v1/servers/${idle.json().server.id}`)).statusCode, 204);
      assert.equal((await h.call(h.owner.token, 'GET', `/api/v1/servers/${idle.json().server.id}`)).statusCode, 404);
      assert.equal((await h.call(null, 'POST', '/api/v1/agents/join', { joinToken: rotated.json().joinToken })).statusCode, 401);
    });
  });
}
