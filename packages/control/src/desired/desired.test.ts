import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  allocatePort,
  nextUidSlot,
  UNIX_USER_MAX,
  unixUserName,
  WEB_PORT_MAX,
  WEB_PORT_MIN,
  webPortRange,
} from './allocation.ts';
import { planPlacement } from './placement.ts';
import { defaultPolicies } from './policies.ts';
import { serverStatus } from './servers.ts';
import { aggregateStatus } from './status.ts';

test('unix user names: tp-<site>-<env>, at most 32 characters, unique', () => {
  assert.equal(unixUserName('shop', 'production', new Set(), 'env_1'), 'tp-shop-production');
  const taken = new Set(['tp-shop-production']);
  const second = unixUserName('shop', 'production', taken, 'env_2');
  assert.notEqual(second, 'tp-shop-production');
  assert.ok(second.startsWith('tp-shop-'));
  const long = unixUserName('a-very-long-site-name-for-testing', 'staging-environment', new Set(), 'env_3');
  assert.ok(long.length <= UNIX_USER_MAX, long);
  assert.match(long, /^tp-[a-z0-9-]+$/);
  const names = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const n = unixUserName('a-very-long-site-name-for-testing', 'staging-environment', names, `env_${i}`);
    assert.ok(!names.has(n) && n.length <= UNIX_USER_MAX);
    names.add(n);
  }
});

test('ports: lowest free in 20000–29999; uid slots grow', () => {
  const whole = webPortRange({});
  assert.deepEqual(whole, { min: WEB_PORT_MIN, max: WEB_PORT_MAX });
  assert.equal(allocatePort(new Set(), whole), WEB_PORT_MIN);
  assert.equal(allocatePort(new Set([20000, 20001, 20003]), whole), 20002);
  const all = new Set<number>();
  for (let p = WEB_PORT_MIN; p <= WEB_PORT_MAX; p++) all.add(p);
  assert.equal(allocatePort(all, whole), undefined);
  assert.equal(nextUidSlot([]), 1);
  assert.equal(nextUidSlot([1, 7, 3]), 8);
});

test('TRIPLANE_WEB_PORTS narrows the range; a malformed one is refused with the variable named', () => {
  const r = webPortRange({ TRIPLANE_WEB_PORTS: ' 21000-21002 ' });
  assert.deepEqual(r, { min: 21000, max: 21002 });
  assert.equal(allocatePort(new Set([20000, 21000]), r), 21001);
  assert.equal(allocatePort(new Set([21000, 21001, 21002]), r), undefined);
  for (const bad of ['21000', '19999-20010', '29000-30000', '21010-21000', 'a-b', '20000-29999x'])
    assert.throws(() => webPortRange({ TRIPLANE_WEB_PORTS: bad }), /TRIPLANE_WEB_PORTS=.*LOW-HIGH/, bad);
});

test('placement: fewest environments among online app servers; keeps what it has; pinned stays', () => {
  const servers = [
    { id: 'srv_a', role: 'app', online: true, load: 3 },
    { id: 'srv_b', role: 'app', online: true, load: 1 },
    { id: 'srv_c', role: 'app', online: false, load: 0 },
    { id: 'srv_e', role: 'edge', online: true, load: 0 },
  ];
  assert.deepEqual(planPlacement({ current: [], pinned: false, replicas: 1, servers }), ['srv_b']);
  assert.deepEqual(planPlacement({ current: [], pinned: false, replicas: 3, servers }), ['srv_a', 'srv_b']);
  assert.deepEqual(planPlacement({ current: ['srv_c'], pinned: false, replicas: 1, servers }), ['srv_c'], 'no automatic moves');
  assert.deepEqual(planPlacement({ current: ['srv_a', 'srv_b'], pinned: false, replicas: 1, servers }), ['srv_a']);
  assert.deepEqual(planPlacement({ current: ['srv_c'], pinned: true, replicas: 1, servers }), ['srv_c']);
  assert.deepEqual(planPlacement({ current: [], pinned: false, replicas: 1, servers: servers.filter((s) => !s.online) }), []);
  assert.deepEqual(planPlacement({ current: ['srv_gone'], pinned: false, replicas: 1, servers }), ['srv_b']);
});

test('server status is computed from the last heartbeat (60 s)', () => {
  const now = Date.parse('2025-01-01T00:01:00Z');
  assert.equal(serverStatus({ joined_at: null, last_heartbeat_at: null }, now), 'pending');
  assert.equal(serverStatus({ joined_at: 'x', last_heartbeat_at: '2025-01-01T00:00:30Z' }, now), 'online');
  assert.equal(serverStatus({ joined_at: 'x', last_heartbeat_at: '2025-01-01T00:00:00Z' }, now), 'offline');
});

test('status aggregation over the placement servers', () => {
  const e = (status: any) => ({ status, message: null, generation: 1, at: 'x', containers: [] });
  assert.equal(aggregateStatus(['a'], {}), undefined);
  assert.equal(aggregateStatus(['a', 'b'], { a: e('running'), b: e('running') })?.status, 'running');
  assert.equal(aggregateStatus(['a', 'b'], { a: e('running'), b: e('failed') })?.status, 'degraded');
  assert.equal(aggregateStatus(['a', 'b'], { a: e('provisioning'), b: e('crash-looping') })?.status, 'crash-looping');
  assert.equal(aggregateStatus(['a'], { z: e('running') }), undefined, 'reports from other servers do not count');
});

test('policies default from the site kind', () => {
  const wp = defaultPolicies('env_x', 'wordpress', 64);
  assert.equal(wp.cache.profile, 'wordpress');
  assert.ok(wp.cache.bypassCookies.includes('wordpress_logged_in_'));
  assert.deepEqual(wp.waf.exclusionProfiles, ['wordpress']);
  assert.ok(wp.rate.rules.some((r) => r.pathPrefix === '/wp-login.php'));
  const woo = defaultPolicies('env_x', 'woocommerce', 64);
  assert.ok(woo.cache.bypassPaths.includes('/checkout'));
  assert.equal(defaultPolicies('env_x', 'magento', 64).cache.profile, 'magento');
  assert.equal(defaultPolicies('env_x', 'php', 64).cache.defaultTtlS, 0);
});
