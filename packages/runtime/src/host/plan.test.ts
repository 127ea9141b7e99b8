import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderContainersConf, renderStorageConf } from './containers-conf.ts';
import type { HostFacts } from './facts.ts';
import { parseHardLimit, rootIsShared } from './facts.ts';
import {
  CONTAINERS_CONF,
  checkPreconditions,
  HOST_PACKAGES,
  OVERLAY_MOUNT_PROGRAM_FLAG,
  planHost,
  STORAGE_CONF,
  SUBGID,
  SUBUID,
} from './plan.ts';
import { ensureSubidEntry, parseSubid } from './subid.ts';

const GiB = 1024 ** 3;

function facts(over: Partial<HostFacts> = {}): HostFacts {
  const packages: Record<string, boolean> = {};
  for (const p of HOST_PACKAGES) packages[p] = true;
  return {
    uid: 0,
    maxUserNamespaces: 96364,
    freeBytesStore: 80 * GiB,
    packages,
    files: {
      [CONTAINERS_CONF]: renderContainersConf({ hardNofile: 20000, hardNproc: 96364 }),
      [STORAGE_CONF]: renderStorageConf(),
      [SUBUID]: 'containers:700000000:100000000\ntriplane:1000000000:1000000000\n',
      [SUBGID]: 'containers:700000000:100000000\ntriplane:1000000000:1000000000\n',
    },
    tunMode: 0o666,
    rootShared: true,
    hardNofile: 20000,
    hardNproc: 96364,
    ...over,
  };
}

test('a prepared host plans nothing (idempotent)', () => {
  assert.deepEqual(planHost(facts()), { actions: [], problems: [] });
  assert.deepEqual(checkPreconditions(facts()), []);
});

test('a fresh host plans packages, conf files, subids, tun and rshared', () => {
  const packages: Record<string, boolean> = {};
  for (const p of HOST_PACKAGES) packages[p] = p === 'iptables';
  const { actions, problems } = planHost(
    facts({
      packages,
      files: { [CONTAINERS_CONF]: null, [STORAGE_CONF]: null, [SUBUID]: null, [SUBGID]: 'alice:100000:65536\n' },
      tunMode: 0o600,
      rootShared: false,
    }),
  );
  assert.deepEqual(problems, []);
  assert.deepEqual(
    actions.map((a) => (a.kind === 'write-file' ? `${a.kind} ${a.path}` : a.kind)),
    [
      'apt-install',
      `write-file ${CONTAINERS_CONF}`,
      `write-file ${STORAGE_CONF}`,
      `write-file ${SUBUID}`,
      `write-file ${SUBGID}`,
      'chmod',
      'make-rshared',
    ],
  );
  const apt = actions[0];
  assert.ok(apt?.kind === 'apt-install' && !apt.packages.includes('iptables') && apt.packages.includes('podman'));
  const gid = actions.find((a) => a.kind === 'write-file' && a.path === SUBGID);
  assert.equal(
    gid?.kind === 'write-file' ? gid.content : '',
    'alice:100000:65536\ncontainers:700000000:100000000\ntriplane:1000000000:1000000000\n',
  );
});

test('a stale fuse-overlayfs flag in the store is removed; a false one is kept', () => {
  const base = facts();
  const stale = planHost(facts({ files: { ...base.files, [OVERLAY_MOUNT_PROGRAM_FLAG]: 'true' } }));
  assert.deepEqual(stale.actions, [{ kind: 'remove-file', path: OVERLAY_MOUNT_PROGRAM_FLAG }]);
  assert.deepEqual(planHost(facts({ files: { ...base.files, [OVERLAY_MOUNT_PROGRAM_FLAG]: 'false' } })).actions, []);
});

test('containers.conf carries the measured settings and clamps ulimits to hard limits', () => {
  const c = renderContainersConf({ hardNofile: 20000, hardNproc: 96364 });
  for (const line of [
    '"nofile=16384:16384"',
    '"nproc=8192:8192"',
    'network_backend = "cni"',
    'runtime = "runc"',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    'log_driver = "k8s-file"',
  ]) {
    assert.ok(c.includes(line), line);
  }
  assert.ok(renderContainersConf({ hardNofile: 4096, hardNproc: null }).includes('"nofile=4096:4096"'));
  const s = renderStorageConf();
  assert.match(s, /driver = "overlay"/);
  assert.match(s, /mountopt = "nodev"/);
});

test('preconditions say what to do', () => {
  const p = checkPreconditions(facts({ uid: 1000, maxUserNamespaces: 0, freeBytesStore: 1 * GiB }));
  assert.deepEqual(
    p.map((x) => x.code),
    ['TRIPLANE_ERR_HOST_NOT_ROOT', 'TRIPLANE_ERR_HOST_NO_USERNS', 'TRIPLANE_ERR_HOST_DISK_FULL'],
  );
  assert.match(p[0]?.message ?? '', /as root/);
  assert.match(p[1]?.message ?? '', /max_user_namespaces/);
  assert.match(p[2]?.message ?? '', /1\.0 GiB free.*at least 4\.0 GiB/);
});

test('subid conflicts are reported, never rewritten', () => {
  const d1 = ensureSubidEntry(
    'containers:2147483647:2147483648\n',
    { name: 'containers', start: 700000000, count: 100000000 },
    '/etc/subuid',
  );
  assert.equal(d1.kind, 'conflict');
  const d2 = ensureSubidEntry(
    'bob:1000065536:65536\n',
    { name: 'triplane', start: 1000000000, count: 1000000000 },
    '/etc/subuid',
  );
  assert.equal(d2.kind, 'conflict');
  assert.match(d2.kind === 'conflict' ? d2.message : '', /bob:1000065536:65536 overlaps/);
  const d3 = ensureSubidEntry('alice:100000:65536', { name: 'triplane', start: 1000000000, count: 1000000000 }, '/etc/subuid');
  assert.deepEqual(d3, { kind: 'append', content: 'alice:100000:65536\ntriplane:1000000000:1000000000\n' });
  assert.deepEqual(parseSubid('# c\n\nx:1:2\nbroken\n'), [{ name: 'x', start: 1, count: 2 }]);
});

test('parses /proc/self/limits and mountinfo', () => {
  const limits =
    'Limit                     Soft Limit           Hard Limit           Units     \nMax processes             96364                96364                processes \nMax open files            20000                20000                files     \nMax locked memory         unlimited            unlimited            bytes     \n';
  assert.equal(parseHardLimit(limits, 'Max open files'), 20000);
  assert.equal(parseHardLimit(limits, 'Max processes'), 96364);
  assert.equal(parseHardLimit(limits, 'Max locked memory'), null);
  assert.equal(rootIsShared('26 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n'), true);
  assert.equal(
    rootIsShared('26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n27 26 0:5 / /dev rw shared:2 - devtmpfs x rw\n'),
    false,
  );
});
