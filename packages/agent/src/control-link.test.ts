import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSite, runHandler } from '@triplane/control/desired/test-support';
import { environmentActionHandler } from '@triplane/control/jobs/handlers/environment-action';
import { siteDelete } from '@triplane/control/jobs/handlers/site-delete';
import { siteProvision } from '@triplane/control/jobs/handlers/site-provision';
import { createHarness, type Harness } from '@triplane/control/testing/harness';
import { silentLogger } from '@triplane/kernel';
import { FakeDriver } from '@triplane/testkit';
import { type RunningAgent, runAgent } from './main.ts';
import { StateDir } from './state-dir.ts';

/**
 * The agent against a REAL control plane (Fastify on a loopback port, SQLite and PostgreSQL
 * stores): join, the assignment long-poll, status reports, a site going from create to
 * `running`, stop, delete confirmed by the agent — then the control plane going away.
 * The runtime is the FakeDriver.
 */

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const FAST = { intervalMs: 50, heartbeatMs: 200, watchWaitS: 2, reportRefreshMs: 500, logger: silentLogger() };

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`agent ⇄ control plane (${dialect})`, { skip: dialect === 'postgres' && !process.env.TRIPLANE_TEST_PG_URL }, () => {
    let h: Harness;
    let apiUrl: string;
    let dir: string;
    const agents: RunningAgent[] = [];

    before(async () => {
      h = await createHarness({ dialect });
      apiUrl = await h.app.listen({ host: '127.0.0.1', port: 0 });
      dir = await mkdtemp(join(tmpdir(), 'triplane-agent-'));
    });
    after(async () => {
      for (const a of agents) await a.stop();
      await h.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('joins, runs a new site, reports it running, stops it, and confirms its deletion', async () => {
      const srv = await h.call(h.owner.token, 'POST', '/api/v1/servers', { name: 'app1', role: 'app' });
      assert.equal(srv.statusCode, 201, srv.body);
      const joinToken = srv.json().joinToken as string;
      const driver = new FakeDriver();
      const stateDir = join(dir, 'state');
      const agent = await runAgent({ apiUrl, joinToken, stateDir, driver, address: '127.0.0.1', ...FAST });
      agents.push(agent);
      assert.equal(agent.serverId, srv.json().server.id);

      // identity persisted 0600, without the credential ever being printed
      const idFile = join(stateDir, 'identity.json');
      assert.equal((await stat(idFile)).mode & 0o777, 0o600);
      assert.equal((await stat(stateDir)).mode & 0o777, 0o700);
      const identity = JSON.parse(await readFile(idFile, 'utf8'));
      assert.match(identity.credential, /^tpa_/);

      await waitFor('the server online', async () => {
        const s = await h.call(h.owner.token, 'GET', `/api/v1/servers/${agent.serverId}`);
        return s.json().status === 'online' && s.json().lastHeartbeatAt !== null;
      });

      // a site: the provisioning job places it on this server, the agent applies it
      const site = await createSite(h, h.owner.token, { name: 'shop', domains: ['shop.example.com'] });
      await runHandler(h, siteProvision, site.jobId);
      await waitFor('the pod applied', async () => driver.has(site.environmentId));
      const applied = driver.applied(site.environmentId);
      assert.equal(applied?.siteName, 'shop');
      assert.deepEqual(applied?.domains, ['shop.example.com']);
      assert.ok((applied?.runtime.webPort ?? 0) >= 20000);

      const running = await waitFor('status running on the control plane', async () => {
        const r = await h.call(h.owner.token, 'GET', `/api/v1/sites/${site.siteId}`);
        const env = r.json().environments[0];
        return env.status === 'running' ? env : undefined;
      });
      assert.equal(running.observed.length, 1);
      assert.equal(running.observed[0].serverId, agent.serverId);
      assert.equal(running.observed[0].generation, running.generation);
      assert.deepEqual(
        running.observed[0].containers.map((c: { name: string }) => c.name),
        ['db', 'redis', 'php', 'web'],
      );

      // the assignment is persisted for restarts without the control plane
      const stored = await new StateDir(stateDir).loadAssignment();
      assert.deepEqual(
        stored?.assignment.environments.map((e) => e.id),
        [site.environmentId],
      );

      // stop: a new generation with desiredState stopped; the job sees the agent confirm it
      const stop = await h.call(h.owner.token, 'POST', `/api/v1/environments/${site.environmentId}/actions/stop`);
      assert.equal(stop.statusCode, 202, stop.body);
      const stopped = (await runHandler(h, environmentActionHandler, stop.json().job.id, {
        params: { confirmTimeoutMs: 10_000 },
      })) as { confirmedByAgents: boolean };
      assert.equal(stopped.confirmedByAgents, true);
      await waitFor('status stopped', async () => {
        const r = await h.call(h.owner.token, 'GET', `/api/v1/sites/${site.siteId}`);
        return r.json().environments[0].status === 'stopped';
      });
      assert.notEqual(driver.container(site.environmentId, 'php')?.state, 'running');

      // delete: the agent removes the pod (and its volumes) and stops reporting it
      const del = await h.call(h.owner.token, 'DELETE', `/api/v1/sites/${site.siteId}?confirm=shop`);
      assert.equal(del.statusCode, 202, del.body);
      const deleted = (await runHandler(h, siteDelete, del.json().job.id, { params: { drainTimeoutMs: 10_000 } })) as {
        confirmedByAgents: boolean;
      };
      assert.equal(deleted.confirmedByAgents, true);
      assert.equal(driver.has(site.environmentId), false);
      assert.equal(driver.volumes.has(site.environmentId), false);
      assert.ok(agent.link.stats.assignments >= 3, 'create, stop and delete arrived as new assignments');
      assert.ok(agent.link.stats.reports >= 3);
    });

    it('keeps healing without the control plane, and a restarted agent resumes from disk', async () => {
      const srv = await h.call(h.owner.token, 'POST', '/api/v1/servers', { name: 'app2', role: 'app' });
      const driver = new FakeDriver();
      const stateDir = join(dir, 'state2');
      // app1 from the first test is still online: pin the site to app2 by taking app1 away
      for (const a of agents.splice(0)) await a.stop();
      await h.store.db.updateTable('servers').set({ last_heartbeat_at: '2000-01-01T00:00:00.000Z' }).execute();
      const agent = await runAgent({ apiUrl, joinToken: srv.json().joinToken, stateDir, driver, ...FAST });
      await waitFor('app2 online', async () => {
        const s = await h.call(h.owner.token, 'GET', `/api/v1/servers/${agent.serverId}`);
        return s.json().status === 'online';
      });
      const site = await createSite(h, h.owner.token, { name: 'blog' });
      await runHandler(h, siteProvision, site.jobId);
      await waitFor('running', async () => {
        const r = await h.call(h.owner.token, 'GET', `/api/v1/sites/${site.siteId}`);
        return r.json().environments[0].status === 'running';
      });

      // the control plane goes away
      await h.app.close();
      const errorsBefore = agent.link.stats.errors;
      driver.kill(site.environmentId, 'php', 'podman-kill');
      await waitFor(
        'php started again by the agent alone',
        async () => driver.container(site.environmentId, 'php')?.state === 'running',
      );
      await waitFor('the link noticing and retrying', async () => agent.link.stats.errors > errorsBefore);

      // the agent restarts (after a reboot) with the control plane still down
      await agent.stop();
      driver.reboot();
      const again = await runAgent({ apiUrl, stateDir, driver, ...FAST }); // no join token: saved identity
      agents.push(again);
      assert.equal(again.serverId, agent.serverId);
      await waitFor('every container back', async () =>
        ['db', 'redis', 'php', 'web'].every((c) => driver.container(site.environmentId, c)?.state === 'running'),
      );
      await waitFor('reported running (to be sent when the control plane is back)', async () =>
        again.reconciler.report()?.every((e) => e.status === 'running'),
      );
    });
  });
}
