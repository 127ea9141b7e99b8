import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TriplaneError } from '@triplane/kernel';
import { FakeClock, FakeDriver } from '@triplane/testkit';
import { assignedEnv } from '../testing/fixtures.ts';
import { type EnvironmentReport, Reconciler } from './engine.ts';

/** Backoff jitter pinned to the ceiling: delays are exactly base·2^(n-1), capped. */
const MAX = () => 1;

function setup(o: { config?: ConstructorParameters<typeof Reconciler>[0]['config'] } = {}) {
  const clock = new FakeClock();
  const driver = new FakeDriver();
  const r = new Reconciler({ driver, clock, random: MAX, ...(o.config ? { config: o.config } : {}) });
  return { clock, driver, r };
}

function statusOf(r: Reconciler, id: string): EnvironmentReport | undefined {
  return r.report()?.find((e) => e.id === id);
}

function kinds(res: Awaited<ReturnType<Reconciler['pass']>>): string[] {
  return res.actions.map((a) => `${a.envId.slice(-1)}:${a.action.kind}${a.ok ? '' : '!'}`);
}

describe('reconcile engine', () => {
  it('creates every assigned environment, then does nothing (idempotent); pending → running', async () => {
    const { driver, r } = setup();
    const a = assignedEnv(1);
    const b = assignedEnv(2, { externalDatabase: { host: 'db.example.com', port: 3306, name: 'shop', user: 'shop' } });
    r.setDesired([a, b]);
    assert.equal(r.report(), null, 'nothing to report before the first observation');
    const first = await r.pass();
    assert.deepEqual(kinds(first), ['1:apply', '2:apply']);
    assert.equal(statusOf(r, a.id)?.status, 'pending');
    const second = await r.pass();
    assert.deepEqual(second.actions, []);
    assert.equal(statusOf(r, a.id)?.status, 'running');
    assert.equal(statusOf(r, a.id)?.generation, 1);
    assert.deepEqual(
      statusOf(r, b.id)?.containers?.map((c) => c.name),
      ['redis', 'php', 'web'],
      'no database container with an external database',
    );
    assert.deepEqual(await r.pass(), { actions: [] });
    assert.deepEqual(driver.calls, [`apply ${a.id}@1`, `apply ${b.id}@1`]);
  });

  it('re-applies when the generation changes, and reports the applied generation', async () => {
    const { driver, r } = setup();
    r.setDesired([assignedEnv(1)]);
    await r.pass();
    await r.pass();
    const changed = assignedEnv(1, { generation: 2, php: { ...assignedEnv(1).php, memoryLimitMb: 512 } });
    r.setDesired([changed]);
    const res = await r.pass();
    assert.deepEqual(
      res.actions.map((a) => a.action),
      [{ kind: 'apply', reason: 'update' }],
    );
    assert.equal(driver.applied(changed.id)?.php.memoryLimitMb, 512);
    assert.equal(statusOf(r, changed.id)?.generation, 1, 'observed generation until the next pass');
    await r.pass();
    assert.deepEqual(statusOf(r, changed.id), {
      id: changed.id,
      status: 'running',
      generation: 2,
      containers: statusOf(r, changed.id)?.containers,
    });
  });

  it('deletes environments that left the assignment (volumes too) and stops reporting them', async () => {
    const { driver, r } = setup();
    const a = assignedEnv(1);
    const b = assignedEnv(2);
    r.setDesired([a, b]);
    await r.pass();
    r.setDesired([a]);
    driver.failNext('remove', { envId: b.id });
    const failed = await r.pass();
    assert.deepEqual(kinds(failed), ['2:remove!']);
    assert.equal(statusOf(r, b.id)?.status, 'deleting', 'still present: reported as deleting');
    assert.match(statusOf(r, b.id)?.message ?? '', /retrying in 1 s/);
    assert.deepEqual(await r.pass(), { actions: [] }, 'backing off');
  });

  it('deletes with volumes after the backoff; the report then omits the environment', async () => {
    const { clock, driver, r } = setup();
    const a = assignedEnv(1);
    const b = assignedEnv(2);
    r.setDesired([a, b]);
    await r.pass();
    r.setDesired([a]);
    driver.failNext('remove', { envId: b.id });
    await r.pass();
    clock.advance(1000);
    const res = await r.pass();
    assert.deepEqual(
      res.actions.map((x) => x.action),
      [{ kind: 'remove', purge: true }],
    );
    assert.equal(driver.has(b.id), false);
    assert.equal(driver.volumes.has(b.id), false, 'volumes purged');
    assert.deepEqual(
      r.report()?.map((e) => e.id),
      [a.id],
      'a missing environment = gone from this server',
    );
  });

  it('keeps volumes when purgeOnRemove is off', async () => {
    const { driver, r } = setup({ config: { purgeOnRemove: false } });
    const a = assignedEnv(1);
    r.setDesired([a]);
    await r.pass();
    r.setDesired([]);
    await r.pass();
    assert.equal(driver.has(a.id), false);
    assert.deepEqual(driver.volumes.get(a.id), [`${a.id}-content`, `${a.id}-db`]);
  });

  it('stops an environment whose desired state is stopped and never restarts its containers', async () => {
    const { clock, driver, r } = setup();
    const a = assignedEnv(1);
    r.setDesired([a]);
    await r.pass();
    await r.pass();
    r.setDesired([{ ...a, desiredState: 'stopped' }]);
    const res = await r.pass();
    assert.deepEqual(kinds(res), ['1:stop']);
    for (let i = 0; i < 5; i++) {
      clock.advance(30_000);
      assert.deepEqual(await r.pass(), { actions: [] }, 'exited on purpose: left alone');
    }
    assert.equal(statusOf(r, a.id)?.status, 'stopped');
    assert.equal(driver.container(a.id, 'php')?.state, 'exited');
    // start = a new generation with desiredState running (what the control plane sends)
    r.setDesired([{ ...a, generation: 2 }]);
    assert.deepEqual(kinds(await r.pass()), ['1:apply']);
    await r.pass();
    assert.equal(statusOf(r, a.id)?.status, 'running');
  });

  it('creates a stopped environment without starting it', async () => {
    const { driver, r } = setup();
    const a = assignedEnv(1, { desiredState: 'stopped' });
    r.setDesired([a]);
    await r.pass();
    assert.deepEqual(await r.pass(), { actions: [] });
    assert.equal(statusOf(r, a.id)?.status, 'stopped');
    assert.equal(driver.container(a.id, 'web')?.state, 'created');
  });

  it('starts a container stopped by `podman kill` (the restart policy ignores it) on the next pass', async () => {
    const { clock, driver, r } = setup();
    const a = assignedEnv(1);
    r.setDesired([a]);
    await r.pass();
    await r.pass();
    driver.kill(a.id, 'php', 'podman-kill');
    const res = await r.pass();
    assert.deepEqual(
      res.actions.map((x) => x.action),
      [{ kind: 'start', containers: ['php'] }],
    );
    assert.equal(statusOf(r, a.id)?.status, 'degraded', 'observed before the start');
    clock.advance(2000);
    assert.deepEqual(await r.pass(), { actions: [] });
    assert.equal(statusOf(r, a.id)?.status, 'running');
    assert.equal(driver.container(a.id, 'php')?.state, 'running');
    // killed again and again: started again each time, with a growing repair backoff (1 s, 2 s, …)
    driver.kill(a.id, 'php', 'podman-kill');
    clock.advance(500);
    assert.deepEqual(kinds(await r.pass()), ['1:start'], '2.5 s after the first repair: allowed');
    driver.kill(a.id, 'php', 'podman-kill');
    clock.advance(500);
    assert.deepEqual(await r.pass(), { actions: [] }, 'repair backoff: 2 s after the second repair');
    assert.match(statusOf(r, a.id)?.message ?? '', /php exited: restarting in 2 s/);
    clock.advance(1500);
    assert.deepEqual(kinds(await r.pass()), ['1:start']);
  });

  it('leaves a `kill -9` to the restart policy and counts the restart', async () => {
    const { driver, r } = setup();
    const a = assignedEnv(1);
    r.setDesired([a]);
    await r.pass();
    await r.pass();
    driver.kill(a.id, 'php', 'sigkill');
    assert.deepEqual(await r.pass(), { actions: [] });
    const s = statusOf(r, a.id);
    assert.equal(s?.status, 'running');
    assert.equal(s?.containers?.find((c) => c.name === 'php')?.restarts, 1);
    assert.equal(r.health(a.id)?.restartEvents.length, 1);
  });

  it('detects a crash loop, holds the container with growing delays, keeps trying, and recovers', async () => {
    const { clock, driver, r } = setup();
    const a = assignedEnv(1);
    r.setDesired([a]);
    await r.pass();
    await r.pass();
    driver.crashLoop(a.id, 'php');
    // Podman restarts it 3 times per observation; the agent starts it once, then sees a loop.
    assert.deepEqual(kinds(await r.pass()), ['1:start']);
    clock.advance(2000);
    const held = await r.pass();
    assert.deepEqual(
      held.actions.map((x) => x.action),
      [{ kind: 'hold', containers: ['php'] }],
    );
    assert.equal(statusOf(r, a.id)?.status, 'crash-looping');
    assert.match(statusOf(r, a.id)?.message ?? '', /php restarted 7 times in 120 s; next start in 10 s/);

    const holds: number[] = [];
    let heldAt = clock.now();
    for (let i = 0; i < 40 && holds.length < 6; i++) {
      const wake = r.nextWakeAt();
      assert.ok(wake !== null && wake > clock.now(), 'the engine says when to come back');
      clock.set(wake);
      const res = await r.pass(); // hold expired → start; it dies, Podman restarts it → hold again
      assert.ok(res.actions.every((x) => x.action.kind === 'start' || x.action.kind === 'hold'));
      if (res.actions.some((x) => x.action.kind === 'start')) {
        clock.advance(1000);
        const again = await r.pass();
        if (again.actions.some((x) => x.action.kind === 'hold')) {
          holds.push(clock.now() - heldAt);
          heldAt = clock.now();
        }
      }
      assert.equal(statusOf(r, a.id)?.status, 'crash-looping');
    }
    assert.equal(holds.length, 6);
    for (let i = 1; i < holds.length; i++) assert.ok((holds[i] as number) >= (holds[i - 1] as number), `growing: ${holds}`);
    assert.ok((holds[holds.length - 1] as number) <= 300_000 + 5_000, `capped: ${holds}`);
    assert.ok((holds[holds.length - 1] as number) >= 160_000, `grew: ${holds}`);

    // fixed: next start keeps it running; after 60 s stable everything is forgotten
    driver.crashLoop(a.id, 'php', false);
    let started = false;
    for (let i = 0; i < 5 && !started; i++) {
      clock.set(r.nextWakeAt() as number);
      started = kinds(await r.pass()).includes('1:start');
    }
    assert.ok(started);
    clock.advance(2000);
    await r.pass();
    assert.equal(statusOf(r, a.id)?.status, 'crash-looping', 'not stable long enough yet');
    clock.advance(60_000);
    await r.pass();
    assert.equal(statusOf(r, a.id)?.status, 'running');
    assert.equal(r.health(a.id)?.repairStreak, 0);
    assert.equal(r.nextWakeAt(), null);
  });

  it('retries a failing apply with exponential backoff without holding up other environments', async () => {
    const { clock, driver, r } = setup();
    const a = assignedEnv(1);
    const b = assignedEnv(2);
    driver.failNext('apply', { envId: a.id, times: 4, error: new Error('podman: boom') });
    r.setDesired([a, b]);
    assert.deepEqual(kinds(await r.pass()), ['1:apply!', '2:apply']);
    assert.equal(statusOf(r, a.id)?.status, 'pending');
    assert.match(statusOf(r, a.id)?.message ?? '', /create failed: podman: boom; retrying in 1 s/);
    const tries: number[] = [];
    let last = clock.now();
    for (let i = 0; i < 200 && !driver.has(a.id); i++) {
      clock.advance(250);
      const res = await r.pass();
      if (res.actions.some((x) => x.envId === a.id)) {
        tries.push(clock.now() - last);
        last = clock.now();
      }
    }
    assert.deepEqual(tries, [1000, 2000, 4000, 8000]);
    await r.pass();
    assert.equal(statusOf(r, a.id)?.status, 'running');
    assert.equal(statusOf(r, b.id)?.status, 'running');
  });

  it('parks an invalid spec as failed (terminal) until its generation changes', async () => {
    const { clock, driver, r } = setup();
    const a = assignedEnv(1);
    driver.failNext('apply', {
      envId: a.id,
      error: new TriplaneError('TRIPLANE_ERR_POD_SPEC_INVALID', 'invalid environment: web.hostPort'),
    });
    r.setDesired([a]);
    await r.pass();
    assert.deepEqual(statusOf(r, a.id), { id: a.id, status: 'failed', message: 'invalid environment: web.hostPort' });
    clock.advance(3_600_000);
    assert.deepEqual(await r.pass(), { actions: [] }, 'no retry');
    r.setDesired([{ ...a, generation: 2 }]);
    assert.deepEqual(kinds(await r.pass()), ['1:apply']);
  });

  it('degrades on failing health probes and restarts the app containers after more failures', async () => {
    const { clock, driver, r } = setup();
    const a = assignedEnv(1);
    r.setDesired([a]);
    await r.pass();
    driver.failProbe(a.id);
    await r.pass();
    assert.equal(r.health(a.id)?.probeFailures, 0, 'failures right after an apply do not count');
    clock.advance(30_000);
    for (let i = 0; i < 2; i++) await r.pass();
    assert.equal(statusOf(r, a.id)?.status, 'running', 'two failures: not yet');
    await r.pass();
    assert.equal(statusOf(r, a.id)?.status, 'degraded');
    assert.match(statusOf(r, a.id)?.message ?? '', /health probe failing \(3 in a row\): HTTP 500/);
    await r.pass();
    await r.pass();
    const res = await r.pass();
    assert.deepEqual(
      res.actions.map((x) => x.action),
      [{ kind: 'restart', containers: ['php', 'web'], reason: 'health probe failed 6 times in a row' }],
    );
    assert.deepEqual(kinds(await r.pass()), [], 'repair backoff');
    driver.failProbe(a.id, false);
    clock.advance(1000);
    await r.pass();
    assert.equal(statusOf(r, a.id)?.status, 'running');
  });

  it('does nothing until it knows the desired state (an agent must not delete what it runs)', async () => {
    const { driver, r } = setup();
    const a = assignedEnv(1);
    r.setDesired([a]);
    await r.pass();
    const restarted = new Reconciler({ driver, clock: new FakeClock(), random: MAX });
    driver.reboot();
    assert.deepEqual(await restarted.pass(), { actions: [] });
    assert.equal(restarted.report(), null);
    assert.equal(driver.has(a.id), true);
  });

  it('brings every assigned pod back after a reboot (a new agent with the persisted assignment)', async () => {
    const { driver, r } = setup();
    const envs = [assignedEnv(1), assignedEnv(2), assignedEnv(3, { desiredState: 'stopped' })];
    r.setDesired(envs);
    await r.pass();
    driver.reboot();
    const agent = new Reconciler({ driver, clock: new FakeClock(), random: MAX });
    agent.setDesired(envs);
    const res = await agent.pass();
    assert.deepEqual(
      res.actions.map((x) => [x.envId.slice(-1), x.action]),
      [
        ['1', { kind: 'start', containers: ['db', 'redis', 'php', 'web'] }],
        ['2', { kind: 'start', containers: ['db', 'redis', 'php', 'web'] }],
      ],
      'the stopped one stays stopped',
    );
    await agent.pass();
    assert.deepEqual(
      agent.report()?.map((e) => e.status),
      ['running', 'running', 'stopped'],
    );
  });

  it('survives a driver that cannot list: nothing done, last report kept, recovers', async () => {
    const { driver, r } = setup();
    const a = assignedEnv(1);
    r.setDesired([a]);
    await r.pass();
    await r.pass();
    const before = r.report();
    driver.failNext('list', { error: new Error('podman: cannot connect') });
    assert.deepEqual(await r.pass(), { actions: [], error: 'podman: cannot connect' });
    assert.deepEqual(r.report(), before);
    assert.deepEqual(await r.pass(), { actions: [] });
  });

  it('a failing start backs off like any action and is retried', async () => {
    const { clock, driver, r } = setup();
    const a = assignedEnv(1);
    r.setDesired([a]);
    await r.pass();
    await r.pass();
    driver.kill(a.id, 'web', 'podman-kill');
    driver.failNext('start', { envId: a.id, times: 2 });
    assert.deepEqual(kinds(await r.pass()), ['1:start!']);
    clock.advance(500);
    assert.deepEqual(kinds(await r.pass()), [], 'backoff 1 s');
    clock.advance(500);
    assert.deepEqual(kinds(await r.pass()), ['1:start!']);
    clock.advance(1000);
    assert.deepEqual(kinds(await r.pass()), [], 'backoff 2 s');
    clock.advance(1000);
    assert.deepEqual(kinds(await r.pass()), ['1:start']);
    await r.pass();
    assert.equal(statusOf(r, a.id)?.status, 'running');
  });

  it('recreates a pod that lost its containers or vanished, reporting pending meanwhile', async () => {
    const { driver, r } = setup();
    const a = assignedEnv(1);
    r.setDesired([a]);
    await r.pass();
    await r.pass();
    await driver.remove(a.id, { purge: false }); // someone ran `podman pod rm` behind our back
    assert.deepEqual(kinds(await r.pass()), ['1:apply']);
    assert.equal(statusOf(r, a.id)?.status, 'pending');
    await r.pass();
    assert.equal(statusOf(r, a.id)?.status, 'running');
  });

  it('probes every 10 s while healthy, and on every pass while failing', async () => {
    const { clock, driver, r } = setup();
    const a = assignedEnv(1);
    r.setDesired([a]);
    await r.pass();
    for (let i = 0; i < 5; i++) await r.pass();
    assert.equal(driver.probeCalls, 1);
    clock.advance(10_000);
    await r.pass();
    assert.equal(driver.probeCalls, 2);
    driver.failProbe(a.id);
    clock.advance(30_000); // past the grace after the apply
    await r.pass();
    await r.pass();
    await r.pass();
    assert.equal(driver.probeCalls, 5);
  });
});
