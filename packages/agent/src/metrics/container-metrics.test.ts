import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { AgentMetricsReport } from '@triplane/spec';
import { parseProcCgroup, readUsage } from './cgroup.ts';
import { ContainerMetrics, type PodContainer } from './container-metrics.ts';

/**
 * The sampler on cgroup trees laid out like the kernel's (v1 hybrid, as on this host, and v2),
 * in a temp dir: the files a real container has, with numbers the test controls.
 * container-metrics.smoke.test.ts reads a real pod's cgroups.
 */
const root = mkdtempSync(join(tmpdir(), 'tp-cgroup-'));
after(() => rmSync(root, { recursive: true, force: true }));
const cg = join(root, 'sys');
const proc = join(root, 'proc');

const V1_PATH = '/libpod_parent/84a67d409ee4/libpod-048bb70896c8';
const procCgroupV1 = (path: string) =>
  [`9:name=systemd:${path}`, `4:memory:${path}`, `2:cpuacct:${path}`, `1:cpu:${path}`, `3:cpuset:${path}`, `0::${path}`, ''].join(
    '\n',
  );

function v1(path: string, cpuNs: number, usage: number, inactiveFile: number): void {
  mkdirSync(join(cg, 'cpuacct', path), { recursive: true });
  mkdirSync(join(cg, 'memory', path), { recursive: true });
  writeFileSync(join(cg, 'cpuacct', path, 'cpuacct.usage'), `${cpuNs}\n`);
  writeFileSync(join(cg, 'memory', path, 'memory.usage_in_bytes'), `${usage}\n`);
  writeFileSync(
    join(cg, 'memory', path, 'memory.stat'),
    `cache 1\nrss 2\ninactive_file 7\ntotal_cache 45056\ntotal_rss 102400\ntotal_inactive_file ${inactiveFile}\n`,
  );
}

function pid(n: number, text: string): void {
  mkdirSync(join(proc, String(n)), { recursive: true });
  writeFileSync(join(proc, String(n), 'cgroup'), text);
}

test('parseProcCgroup: v1 controllers (comma lists too) and the unified line', () => {
  assert.deepEqual(parseProcCgroup(procCgroupV1('/a/b')), { cpuacct: '/a/b', memory: '/a/b', unified: '/a/b' });
  assert.deepEqual(parseProcCgroup('5:cpu,cpuacct:/x\n6:memory:/y\n'), { cpuacct: '/x', memory: '/y' });
  assert.deepEqual(parseProcCgroup('0::/system.slice/pod.scope\n'), { unified: '/system.slice/pod.scope' });
  assert.deepEqual(parseProcCgroup('garbage\n'), {});
});

test('readUsage: v1 working set = usage − total_inactive_file; v2 from cpu.stat and memory.current; gone → undefined', async () => {
  v1(V1_PATH, 90_726_953, 376_832, 40_960);
  assert.deepEqual(await readUsage({ cpuacct: V1_PATH, memory: V1_PATH, unified: V1_PATH }, cg), {
    cpuNs: 90_726_953,
    memBytes: 335_872,
  });
  const v2 = '/libpod_parent/pod2/libpod-c2';
  mkdirSync(join(cg, v2), { recursive: true });
  writeFileSync(join(cg, v2, 'cpu.stat'), 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n');
  writeFileSync(join(cg, v2, 'memory.current'), '1000000\n');
  writeFileSync(join(cg, v2, 'memory.stat'), 'anon 10\nfile 20\ninactive_file 250000\n');
  assert.deepEqual(await readUsage({ unified: v2 }, cg), { cpuNs: 1_500_000, memBytes: 750_000 });
  assert.equal(await readUsage({ cpuacct: '/nope', memory: '/nope' }, cg), undefined);
  writeFileSync(join(cg, v2, 'memory.current'), 'max\n');
  assert.equal(await readUsage({ unified: v2 }, cg), undefined, 'unreadable numbers are no sample, not a crash');
});

test('ContainerMetrics: cores between samples, per environment container; relists when a cgroup goes; reports posted', async () => {
  const web = '/libpod_parent/podA/libpod-web1';
  const php = '/libpod_parent/podA/libpod-php1';
  const other = '/libpod_parent/podX/libpod-x';
  v1(web, 1_000_000_000, 50_000_000, 10_000_000);
  v1(php, 5_000_000_000, 200_000_000, 0);
  v1(other, 0, 1, 0);
  pid(101, procCgroupV1(web));
  pid(102, procCgroupV1(php));
  pid(103, procCgroupV1(other));
  let listed = 0;
  let containers: PodContainer[] = [
    { id: 'web1', podName: 'shop-production', name: 'shop-production-web', pid: 101 },
    { id: 'php1', podName: 'shop-production', name: 'shop-production-php', pid: 102 },
    { id: 'x', podName: 'not-ours', name: 'not-ours-x', pid: 103 },
  ];
  let now = 1_000;
  const posted: AgentMetricsReport[] = [];
  const m = new ContainerMetrics({
    environments: () => [{ id: 'env_aaaaaaaaaaaaaaaa', podName: 'shop-production' }],
    post: async (r) => {
      posted.push(r);
    },
    listContainers: async () => {
      listed++;
      return containers;
    },
    cgroupRoot: cg,
    procRoot: proc,
    now: () => now,
  });

  // first sample: baselines only
  assert.deepEqual(await m.sample(), []);
  assert.equal(listed, 1);
  // 10 s later: web used 2.5 s of CPU (0.25 cores), php 20 s (2 cores)
  now += 10_000;
  v1(web, 3_500_000_000, 60_000_000, 10_000_000);
  v1(php, 25_000_000_000, 210_000_000, 5_000_000);
  await m.tick();
  assert.equal(listed, 1, 'no podman call while nothing changed');
  assert.deepEqual(posted, [
    {
      containers: [
        { environmentId: 'env_aaaaaaaaaaaaaaaa', container: 'web', cpu: 0.25, memBytes: 50_000_000 },
        { environmentId: 'env_aaaaaaaaaaaaaaaa', container: 'php', cpu: 2, memBytes: 205_000_000 },
      ],
    },
  ]);
  assert.equal(m.stats.sent, 1);

  // php recreated: its old cgroup is gone → dropped now, re-listed next time with the new one
  rmSync(join(cg, 'cpuacct', php), { recursive: true });
  const php2 = '/libpod_parent/podA/libpod-php2';
  v1(php2, 7, 100, 0);
  pid(104, procCgroupV1(php2));
  containers = [containers[0] as PodContainer, { id: 'php2', podName: 'shop-production', name: 'shop-production-php', pid: 104 }];
  now += 10_000;
  const s = await m.sample();
  assert.deepEqual(
    s.map((x) => x.container),
    ['web'],
  );
  now += 10_000;
  v1(php2, 1_000_000_007, 100, 0);
  await m.sample(); // relists: php2 baseline
  assert.equal(listed, 2);
  now += 10_000;
  v1(php2, 2_000_000_007, 100, 0);
  assert.deepEqual(
    (await m.sample()).find((x) => x.container === 'php'),
    { environmentId: 'env_aaaaaaaaaaaaaaaa', container: 'php', cpu: 0.1, memBytes: 100 },
  );

  // a failing report is dropped and counted, the next one goes out
  const failing = new ContainerMetrics({
    environments: () => [{ id: 'env_aaaaaaaaaaaaaaaa', podName: 'shop-production' }],
    post: async () => {
      throw new Error('control plane down');
    },
    listContainers: async () => containers,
    cgroupRoot: cg,
    procRoot: proc,
    now: () => now,
  });
  await failing.tick();
  now += 10_000;
  await failing.tick();
  assert.deepEqual(failing.stats, { sent: 0, dropped: 1 });
});
