import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InstallIntent } from '@triplane/spec';
import { FakeClock } from '@triplane/testkit';
import type { EnvironmentReport } from '../reconcile/engine.ts';
import { assignedEnv } from '../testing/fixtures.ts';
import { CRON_EVERY_MS, planWordPressWork, WordPressTasks } from './tasks.ts';

const intent: InstallIntent = {
  title: 'Shop',
  adminUser: 'admin',
  adminEmail: 'admin@shop1.example.com',
  adminPassword: 'Secret-Password-123456',
};

function running(...ids: string[]): EnvironmentReport[] {
  return ids.map((id) => ({ id, status: 'running' }));
}

function setup(installAnswers: { status: number; body: string }[] = []) {
  const clock = new FakeClock();
  const calls = {
    install: [] as { base: string; intent: InstallIntent; headers: Record<string, string> }[],
    get: [] as string[],
  };
  let changes = 0;
  const wp = new WordPressTasks({
    clock,
    webHostIp: '127.0.0.1',
    onChange: () => changes++,
    install: async (base, i, headers) => {
      calls.install.push({ base, intent: i, headers });
      const a = installAnswers.shift();
      if (!a) throw new Error('connection refused');
      return a;
    },
    get: async (url) => {
      calls.get.push(url);
      return { status: 200, body: '' };
    },
  });
  return { clock, calls, wp, changes: () => changes };
}

describe('WordPress install', () => {
  it('installs once the environment runs, reports installed, never twice', async () => {
    const { calls, wp, changes } = setup([{ status: 200, body: '<h1>Success!</h1>' }]);
    const e = assignedEnv(1, { install: intent });
    // Pending: nothing yet.
    assert.deepEqual(wp.tick([e], [{ id: e.id, status: 'pending' }]).install, []);
    assert.deepEqual(wp.tick([e], running(e.id)).install, [e.id]);
    assert.deepEqual(wp.tick([e], running(e.id)).install, [], 'in flight: not started again');
    await wp.idle();
    assert.equal(calls.install.length, 1);
    assert.equal(calls.install[0]?.base, 'http://127.0.0.1:20001');
    assert.deepEqual(calls.install[0]?.headers, { host: 'shop1.example.com' });
    assert.equal(changes(), 1);
    assert.deepEqual(wp.decorate(running(e.id)), [{ id: e.id, status: 'running', installed: true }]);
    assert.deepEqual(wp.tick([e], running(e.id)).install, []);
  });

  it('an installed site ("Already Installed") counts as installed; failures back off', async () => {
    const { clock, calls, wp } = setup([
      { status: 500, body: 'Error establishing a database connection' },
      { status: 200, body: '<h1>Already Installed</h1>' },
    ]);
    const e = assignedEnv(1, { install: { ...intent, url: 'http://blog.example.org' } });
    wp.tick([e], running(e.id));
    await wp.idle();
    assert.deepEqual(wp.decorate(running(e.id)), running(e.id), 'not installed after a 500');
    assert.deepEqual(wp.tick([e], running(e.id)).install, [], 'backing off');
    clock.advance(2000);
    assert.deepEqual(wp.tick([e], running(e.id)).install, [e.id]);
    await wp.idle();
    assert.deepEqual(calls.install[1]?.headers, { host: 'blog.example.org' });
    assert.equal(wp.decorate(running(e.id))?.[0]?.installed, true);
  });

  it('an https install URL is installed as the edge would present it: Host + X-Forwarded-Proto https', async () => {
    const { calls, wp } = setup([{ status: 200, body: '<h1>Success!</h1>' }]);
    const e = assignedEnv(1, { install: { ...intent, url: 'https://shop.example.org' } });
    wp.tick([e], running(e.id));
    await wp.idle();
    assert.deepEqual(calls.install[0]?.headers, { host: 'shop.example.org', 'x-forwarded-proto': 'https' });
  });

  it('no intent, a php site, or a stopped environment: no install', () => {
    const { wp } = setup();
    const a = assignedEnv(1);
    const b = assignedEnv(2, { kind: 'php', install: intent });
    const c = assignedEnv(3, { desiredState: 'stopped', install: intent });
    assert.deepEqual(wp.tick([a, b, c], running(a.id, b.id, c.id)).install, []);
    assert.deepEqual(wp.tick(null, running(a.id)), { install: [], cron: [] });
  });
});

describe('WP-cron timer', () => {
  it('requests wp-cron.php every 60 s per running WordPress environment', async () => {
    const { clock, calls, wp } = setup();
    const a = assignedEnv(1);
    const b = assignedEnv(2, { kind: 'woocommerce' });
    const php = assignedEnv(3, { kind: 'php' });
    const envs = [a, b, php];
    assert.deepEqual(wp.tick(envs, running(a.id, php.id)).cron, [], 'first seen running: wait one period');
    clock.advance(30_000);
    assert.deepEqual(wp.tick(envs, running(a.id, b.id, php.id)).cron, []);
    clock.advance(CRON_EVERY_MS - 30_000);
    assert.deepEqual(wp.tick(envs, running(a.id, b.id, php.id)).cron, [a.id]);
    await wp.idle();
    assert.match(calls.get[0] ?? '', /^http:\/\/127\.0\.0\.1:20001\/wp-cron\.php\?doing_wp_cron=\d+\.\d{4}$/);
    clock.advance(30_000);
    assert.deepEqual(wp.tick(envs, running(a.id, b.id, php.id)).cron, [b.id]);
    // Not running (degraded): skipped until it runs again.
    clock.advance(30_000);
    assert.deepEqual(wp.tick(envs, [{ id: a.id, status: 'degraded' }, ...running(b.id)]).cron, []);
    assert.deepEqual(wp.tick(envs, running(a.id, b.id)).cron, [a.id]);
    await wp.idle();
    assert.equal(calls.get.length, 3);
  });

  it('pure plan: a request in flight is not doubled; unassigned environments are forgotten', () => {
    const now = 1_000_000;
    const a = assignedEnv(1);
    const state = {
      installed: new Set<string>(),
      installing: new Set<string>(),
      cronRunning: new Set([a.id]),
      lastCron: new Map([[a.id, now - 120_000]]),
      installNotBefore: new Map<string, number>(),
    };
    assert.deepEqual(planWordPressWork({ desired: [a], report: running(a.id), state, now }).cron, []);
    state.cronRunning.clear();
    assert.deepEqual(planWordPressWork({ desired: [a], report: running(a.id), state, now }).cron, [a.id]);
    assert.deepEqual(planWordPressWork({ desired: [], report: running(a.id), state, now }).cron, []);
  });
});
