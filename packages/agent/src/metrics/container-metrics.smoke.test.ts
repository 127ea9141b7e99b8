import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, test } from 'node:test';
import { podmanTestsOneAtATime } from '@triplane/runtime/integration/one-at-a-time';
import { ContainerMetrics, listPodmanContainers } from './container-metrics.ts';

podmanTestsOneAtATime();

/**
 * The sampler on a real pod: `podman ps` finds the container, its cgroup files (v1 hybrid, cgroupfs
 * manager on this host) give the CPU a `podman exec` burned and the memory in use. Skips with a
 * reason unless root with podman and a triplane base image (`triplane images build`).
 */
const POD = `tpm-smoke-${process.pid}`;

function podman(args: string[]): string {
  return execFileSync('podman', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
}

function baseImage(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const lines = podman(['images', '--format', '{{.Repository}}:{{.Tag}}']).split('\n');
    return lines.find((l) => l.startsWith('localhost/triplane/base:'));
  } catch {
    return undefined;
  }
}

const image = baseImage();
after(() => {
  if (image) podman(['pod', 'rm', '-f', '-t', '0', '--ignore', POD]);
});

test('a real pod: CPU burned by a process in the container and its memory show up', {
  skip: image ? false : 'needs root, podman and a triplane base image',
}, async () => {
  podman(['pod', 'create', '--name', POD]);
  podman(['run', '-d', '--pod', POD, '--name', `${POD}-work`, image as string, 'sleep', '600']);
  const listed = await listPodmanContainers();
  const mine = listed.filter((c) => c.podName === POD);
  assert.deepEqual(
    mine.map((c) => c.name),
    [`${POD}-work`],
    'the infra container is left out',
  );

  const m = new ContainerMetrics({ environments: () => [{ id: 'env_smoke0000000000', podName: POD }], post: async () => {} });
  assert.deepEqual(await m.sample(), [], 'the first sample is the baseline');
  // a fraction of a second of CPU inside the container (a shell loop)
  podman(['exec', `${POD}-work`, 'sh', '-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done']);
  const s = await m.sample();
  assert.equal(s.length, 1, JSON.stringify(s));
  const w = s[0];
  assert.equal(w?.container, 'work');
  assert.equal(w?.environmentId, 'env_smoke0000000000');
  assert.ok((w?.cpu ?? 0) > 0, `cpu ${w?.cpu}`);
  assert.ok((w?.memBytes ?? 0) > 0, `memory ${w?.memBytes}`);
});
