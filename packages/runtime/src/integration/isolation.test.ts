/**
 * Integration (root only): the isolation the platform promises between two environments,
 * checked with the same user-namespace arguments the driver uses (small pods from the
 * base image, so this runs in seconds):
 *   - each environment's processes run as host uids inside its own disjoint slot;
 *   - environment A's uid cannot read B's volume files nor signal B's processes
 *     (positive controls: B's own uid can);
 *   - the memory limit is enforced (OOM kill) and the pod-wide pids limit caps forks.
 *
 *   node --test packages/runtime/src/integration/isolation.test.ts
 */

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../exec.ts';
import { prepareHost } from '../host/prepare.ts';
import { buildImages } from '../images/build.ts';
import { userNamespaceArg } from '../pod/translate.ts';
import { UID_SLOT_SIZE, uidBase } from '../pod/validate.ts';
import { toYaml } from '../pod/yaml.ts';
import { applyPodPidsLimit } from '../podman/driver.ts';
import { podmanTestsOneAtATime } from './one-at-a-time.ts';

podmanTestsOneAtATime();

const isRoot = process.getuid?.() === 0;

function podYaml(name: string, image: string, script: string, memory: string): string {
  return toYaml({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'app',
          image,
          command: ['/bin/sh', '-c', script],
          resources: { limits: { memory, cpu: '1' } },
          volumeMounts: [{ name: `${name}-data`, mountPath: '/data' }],
        },
      ],
      volumes: [{ name: `${name}-data`, persistentVolumeClaim: { claimName: `${name}-data` } }],
    },
  });
}

async function asUid(uid: number, argv: string[]): Promise<{ code: number; stderr: string }> {
  const r = await run('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', ...argv], { allowFailure: true });
  return { code: r.code, stderr: r.stderr };
}

async function hostUid(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
}

test('two environments: disjoint host uids, no cross-reading, no cross-signalling, limits enforced', {
  timeout: 20 * 60_000,
}, async (t) => {
  if (!isRoot) {
    t.skip('needs root: rootful podman with --userns per environment (run as root or via `make test`)');
    return;
  }
  await prepareHost();
  const { tags } = await buildImages();
  const image = tags.base as string;
  const dir = await mkdtemp(join(tmpdir(), 'triplane-iso-'));
  const envs = [
    { name: 'itiso-a', slot: 15200 },
    { name: 'itiso-b', slot: 15201 },
  ];
  const cleanup = async () => {
    for (const e of envs) {
      await run('podman', ['pod', 'rm', '-f', '-t', '0', e.name], { allowFailure: true });
      await run('podman', ['volume', 'rm', '-f', `${e.name}-data`], { allowFailure: true });
    }
  };
  await cleanup();
  t.after(async () => {
    await cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  const script = 'echo "secret of $HOSTNAME" > /data/secret && chmod 600 /data/secret && chmod 711 /data && exec sleep 600';
  for (const e of envs) {
    const file = join(dir, `${e.name}.yaml`);
    await writeFile(file, podYaml(e.name, image, script, '64Mi'));
    // cwd: conmon inherits it and writes an `oom` file there on an OOM kill (see driver.ts).
    await run('podman', ['kube', 'play', '--replace', '--quiet', userNamespaceArg(e.slot), file], { cwd: dir });
  }
  await sleep(500);
  const info: Record<string, { pid: number; uid: number; volume: string }> = {};
  for (const e of envs) {
    const pid = Number((await run('podman', ['inspect', `${e.name}-app`, '--format', '{{.State.Pid}}'])).stdout.trim());
    assert.ok(pid > 1, `${e.name} is running`);
    const volume = (await run('podman', ['volume', 'inspect', `${e.name}-data`, '--format', '{{.Mountpoint}}'])).stdout.trim();
    info[e.name] = { pid, uid: await hostUid(pid), volume };
    const start = uidBase(e.slot);
    assert.ok(
      info[e.name]!.uid >= start && info[e.name]!.uid < start + UID_SLOT_SIZE,
      `${e.name} runs as host uid ${info[e.name]!.uid}`,
    );
  }
  const a = info['itiso-a']!;
  const b = info['itiso-b']!;
  assert.notEqual(a.uid, b.uid);

  // Files: B's own uid reads its secret; A's uid cannot.
  const secretB = join(b.volume, 'secret');
  assert.equal((await asUid(b.uid, ['cat', secretB])).code, 0, 'positive control: B reads its own file');
  const readByA = await asUid(a.uid, ['cat', secretB]);
  assert.notEqual(readByA.code, 0);
  assert.match(readByA.stderr, /Permission denied/);

  // Signals: B's uid may signal B's process; A's uid may not.
  assert.equal((await asUid(b.uid, ['kill', '-0', String(b.pid)])).code, 0, 'positive control: B signals its own process');
  const killByA = await asUid(a.uid, ['kill', '-0', String(b.pid)]);
  assert.notEqual(killByA.code, 0);
  assert.match(killByA.stderr, /not permitted/);

  // Pod-wide pids limit (written by the driver because kube play ignores pids limits).
  const cg = await applyPodPidsLimit('itiso-a', 64);
  assert.ok(cg, 'pids cgroup written');
  const fork = await run(
    'podman',
    [
      'exec',
      'itiso-a-app',
      '/bin/sh',
      '-c',
      'n=0; for i in $(seq 1 150); do sleep 5 & n=$((n+1)); done 2>/dev/null; sleep 1; ls /proc | grep -c "^[0-9]"',
    ],
    { allowFailure: true },
  );
  const procs = Number(fork.stdout.trim().split('\n').pop());
  assert.ok(
    !Number.isNaN(procs) && procs <= 64,
    `processes in pod A capped at 64, saw ${fork.stdout.trim()} (${fork.stderr.trim().slice(0, 200)})`,
  );

  // Memory limit: a 200 MB allocation in a 64Mi container is OOM-killed.
  const hog = await run(
    'podman',
    ['exec', 'itiso-b-app', '/bin/sh', '-c', 'head -c 200000000 /dev/zero | tail > /dev/null; echo rc=$?'],
    { allowFailure: true, cwd: dir },
  );
  assert.match(hog.stdout + hog.stderr, /rc=137|Killed|OOM/i, `expected an OOM kill, got: ${hog.stdout} ${hog.stderr}`);
});
