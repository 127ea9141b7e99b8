import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { essentialsSpec, proSpec } from './fixtures.ts';
import { renderPodmanSecret } from './secret.ts';
import { pmServers, translateEnvironment, userNamespaceArg } from './translate.ts';
import { UID_SLOTS } from './validate.ts';

const golden = (name: string) => fileURLToPath(new URL(`./golden/${name}`, import.meta.url));

function checkGolden(name: string, actual: string): void {
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden(name), actual);
  assert.equal(actual, readFileSync(golden(name), 'utf8'), `golden ${name} differs (UPDATE_GOLDEN=1 to accept)`);
}

test('essentials environment -> pod with db, redis, php, web (golden)', () => {
  const t = translateEnvironment(essentialsSpec());
  assert.equal(t.name, 'shop1-production');
  checkGolden('essentials.yaml', t.yaml);
});

test('pro environment -> no db container, external DB host (golden)', () => {
  const t = translateEnvironment(proSpec());
  assert.equal(t.name, 'bigshop-staging');
  assert.ok(!t.yaml.includes('name: db\n'));
  assert.ok(t.yaml.includes('value: "db1.internal.example:3307"'));
  checkGolden('pro.yaml', t.yaml);
});

test('play args carry a stable per-slot user namespace', () => {
  const t = translateEnvironment(essentialsSpec());
  assert.deepEqual(t.playArgs, [
    'kube',
    'play',
    '--replace',
    '--quiet',
    '--userns=auto:uidmapping=0:1000196608:65536,gidmapping=0:1000196608:65536',
  ]);
  assert.deepEqual(t.hostIds, { start: 1_000_196_608, count: 65536 });
  assert.equal(t.podPidsLimit, 1024);
  assert.equal(
    translateEnvironment(essentialsSpec({ resources: { ...essentialsSpec().resources, pids: 300 } })).podPidsLimit,
    300,
  );
  assert.equal(userNamespaceArg(0), '--userns=auto:uidmapping=0:1000000000:65536,gidmapping=0:1000000000:65536');
  // The last slot stays below 2^31 (tools print uids as signed ints).
  assert.ok(1_000_000_000 + UID_SLOTS * 65536 <= 2 ** 31);
});

test('translation is deterministic', () => {
  assert.equal(translateEnvironment(essentialsSpec()).yaml, translateEnvironment(essentialsSpec()).yaml);
});

test('secrets never appear in the YAML, only references', () => {
  const y = translateEnvironment(essentialsSpec()).yaml;
  assert.match(y, /secretKeyRef:\n\s+name: shop1-production-secrets\n\s+key: db-password/);
});

test('invalid specs are rejected with every problem listed', () => {
  const bad = essentialsSpec({ siteId: 'Bad_Site', uidSlot: -1, web: { hostPort: 80 } });
  assert.throws(
    () => translateEnvironment(bad),
    (e: unknown) => {
      const err = e as { code: string; message: string };
      assert.equal(err.code, 'TRIPLANE_ERR_POD_SPEC_INVALID');
      assert.match(err.message, /siteId/);
      assert.match(err.message, /uidSlot/);
      assert.match(err.message, /hostPort/);
      return true;
    },
  );
});

test('injection attempts in names and sizes are rejected', () => {
  for (const over of [
    { database: { name: "wp'; DROP", user: 'wordpress' } },
    {
      php: {
        memoryLimit: '256M\nmalicious',
        uploadMaxFilesize: '64M',
        maxExecutionTime: 60,
        pm: { mode: 'static' as const, maxChildren: 6 },
      },
    },
    { redis: { maxMemory: '64mb --save x' } },
    { images: { web: 'x y', php: 'a/b', redis: 'a/b', mariadb: 'a/b' } },
  ]) {
    assert.throws(() => translateEnvironment(essentialsSpec(over)), { code: 'TRIPLANE_ERR_POD_SPEC_INVALID' });
  }
});

test('essentials requires the mariadb image and the db volume', () => {
  const { mariadb: _m, ...images } = essentialsSpec().images;
  assert.throws(() => translateEnvironment(essentialsSpec({ images })), /images.mariadb/);
  assert.throws(() => translateEnvironment(essentialsSpec({ volumes: { wpContent: 'x-wp' } })), /volumes.dbData/);
});

test('pmServers derives sane dynamic pool sizes', () => {
  assert.deepEqual(pmServers(1), { start: 1, minSpare: 1, maxSpare: 1 });
  assert.deepEqual(pmServers(12), { start: 4, minSpare: 3, maxSpare: 6 });
});

test('podman secret payload is a flat JSON map of base64 values', () => {
  assert.equal(renderPodmanSecret({ 'wp-salt': 'x', 'db-password': "p'w" }), '{"db-password":"cCd3","wp-salt":"eA=="}');
});
