import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Acl, parseCidr } from './cidr.ts';
import { loadConfigFile, parseJsonConfig } from './config-file.ts';
import { normaliseHost, parseTarget } from './host.ts';
import { Member } from './upstream/member.ts';
import { Pool } from './upstream/pool.ts';

test('6.5.49 host normalisation: case, trailing dot, port; garbage rejected', () => {
  for (const h of ['A.Example', 'a.example.', 'a.example:80', 'a.example:8080']) assert.equal(normaliseHost(h), 'a.example');
  for (const h of ['', 'a b', 'a.example:x', 'a.example:80:80', 'evil.example/x', 'a..b', '-a.example']) {
    assert.equal(normaliseHost(h), undefined, h);
  }
  assert.equal(normaliseHost('[::1]:80'), '[::1]');
});

test('6.5.50 request target: origin-form and absolute-form', () => {
  assert.deepEqual(parseTarget('/a?b'), { path: '/a?b', authority: undefined });
  assert.deepEqual(parseTarget('http://b.example/x?y'), { path: '/x?y', authority: 'b.example' });
  assert.deepEqual(parseTarget('http://b.example'), { path: '/', authority: 'b.example' });
  assert.equal(parseTarget('*'), undefined);
  assert.equal(parseTarget('http://user@b.example/'), undefined);
});

test('purge ACL by CIDR (IPv4, IPv6, v4-mapped)', () => {
  assert.equal(parseCidr('10.0.0.0/33'), undefined);
  assert.equal(parseCidr('nope'), undefined);
  const acl = new Acl(['127.0.0.1/32', '10.0.0.0/8', '::1/128']);
  assert.equal(acl.allows('127.0.0.1'), true);
  assert.equal(acl.allows('::ffff:127.0.0.1'), true);
  assert.equal(acl.allows('10.9.8.7'), true);
  assert.equal(acl.allows('::1'), true);
  assert.equal(acl.allows('127.0.0.2'), false);
  assert.equal(acl.allows(undefined), false);
  assert.equal(new Acl([]).allows('127.0.0.1'), false);
});

test('pool: round-robin over available members, passive ejection, exclusion of tried members', () => {
  const a = new Member('http://127.0.0.1:1', '127.0.0.1', 1);
  const b = new Member('http://127.0.0.1:2', '127.0.0.1', 2);
  const pool = new Pool([a, b], 'round-robin', { failures: 2, ejectMs: 1000 });
  assert.notEqual(pool.pick(0, new Set()), pool.pick(0, new Set()));
  a.recordFailure(0, 2, 1000);
  assert.equal(a.available(0), true);
  a.recordFailure(0, 2, 1000);
  assert.equal(a.available(10), false);
  for (let i = 0; i < 4; i++) assert.equal(pool.pick(10, new Set()), b);
  assert.equal(pool.pick(10, new Set([b])), a); // ejection is a hint: still tried when nothing else is left
  assert.equal(a.available(2000), true);
  b.healthy = false;
  assert.equal(pool.pick(2000, new Set([a])), undefined);
  for (const m of [a, b]) m.agent.destroy();
});

test('config file: JSON loaded, errors name the file and the field, YAML needs a parser', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-cfg-'));
  const good = join(dir, 'edge.json');
  writeFileSync(
    good,
    JSON.stringify({
      listen: { http: '127.0.0.1:8080' },
      sites: [{ name: 's', hosts: ['*'], upstreams: ['http://127.0.0.1:9001'] }],
    }),
  );
  assert.equal(loadConfigFile(good).sites[0]?.cache.profile, 'off');
  const bad = join(dir, 'bad.json');
  writeFileSync(
    bad,
    JSON.stringify({
      listen: { http: '127.0.0.1:8080' },
      sites: [{ name: 's', hosts: ['*'], upstreams: ['http://127.0.0.1:9001'], lb: { policy: 'random' } }],
    }),
  );
  assert.throws(() => loadConfigFile(bad), /bad\.json:1: sites\[0\]\.lb\.policy/);
  const y = join(dir, 'edge.yaml');
  writeFileSync(y, 'listen: {}');
  assert.throws(() => loadConfigFile(y), /YAML support/);
  assert.equal(loadConfigFile(y.replace('edge.yaml', 'edge.json'), { yaml: parseJsonConfig }).listen.port, 8080);
});
