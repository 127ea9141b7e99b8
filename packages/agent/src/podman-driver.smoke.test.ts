import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { computeImageTags } from '@triplane/runtime';
import { isDown } from '@triplane/runtime/driver';
import { podmanTestsOneAtATime } from '@triplane/runtime/integration/one-at-a-time';
import { PodmanDriver } from './podman-driver.ts';
import { Reconciler } from './reconcile/engine.ts';
import { assignedEnv } from './testing/fixtures.ts';

podmanTestsOneAtATime();

/**
 * Optional smoke test of the real driver: one small Essentials pod through the reconciler
 * (apply → running → `podman kill php` → started again → remove with volumes). Skips with a
 * reason unless running as root with podman and the triplane images built
 * (`triplane images build`). The runtime package owns the thorough Podman tests.
 */

function podman(args: string[]): string {
  return execFileSync('podman', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The images to run: the current recipe tags, else the newest built tag of each image. */
const images: Record<string, string> = {};

async function skipReason(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (rootful podman with --userns=auto)';
  try {
    podman(['--version']);
  } catch {
    return 'podman is not installed';
  }
  let tags: Record<string, string> = {};
  try {
    tags = await computeImageTags();
  } catch {
    // no recipes/debootstrap: fall back to what is built
  }
  for (const name of ['web', 'php', 'redis', 'mariadb']) {
    const want = tags[name];
    let ok = false;
    if (want) {
      try {
        podman(['image', 'exists', want]);
        images[name] = want;
        ok = true;
      } catch {
        // not built for the current recipe
      }
    }
    if (!ok) {
      const newest = podman(['images', '--sort', 'created', '--format', '{{.Repository}}:{{.Tag}}', `localhost/triplane/${name}`])
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.endsWith(':<none>'))[0];
      if (!newest) return `image localhost/triplane/${name} is missing: run \`triplane images build\``;
      images[name] = newest;
    }
  }
  return undefined;
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const reason = await skipReason();

describe('PodmanDriver smoke (real podman)', { skip: reason ?? false }, () => {
  const env = assignedEnv(1, {
    id: 'env_agentsmoke000001',
    siteName: 'agentsmoke',
    runtime: { unixUser: 'tp-agentsmoke-production', uidSlot: 15_100, webPort: 29_871 },
    resources: { cpuMillis: 1000, memoryMb: 512, pids: 512 },
  });
  let dir = '';
  let driver: PodmanDriver;

  after(async () => {
    if (driver) await driver.remove(env.id, { purge: true }).catch(() => {});
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('applies, heals a `podman kill`, and removes everything', async () => {
    dir = await mkdtemp(join(tmpdir(), 'triplane-agent-smoke-'));
    driver = new PodmanDriver({ stateDir: dir, statsEveryMs: 0, images });
    const r = new Reconciler({
      driver,
      config: {
        probe: { intervalMs: 1000, graceMs: 0, failuresBeforeDegraded: 100, failuresBeforeRestart: 1000, restartContainers: [] },
      },
    });
    r.setDesired([env]);
    const first = await r.pass();
    assert.deepEqual(
      first.actions.map((a) => [a.action.kind, a.ok, a.error]),
      [['apply', true, undefined]],
    );
    const secrets = join(dir, 'secrets', `${env.id}.json`);
    assert.equal((await stat(secrets)).mode & 0o777, 0o600);

    await until('all containers running', async () => {
      await r.pass();
      return r.report()?.[0]?.status === 'running';
    });
    const report = r.report()?.[0];
    assert.deepEqual(report?.containers?.map((c) => c.name).sort(), ['db', 'php', 'redis', 'web']);
    assert.equal(report?.generation, 1);

    podman(['kill', 'agentsmoke-production-php']);
    const seen = (await driver.list())[0]?.containers.find((c) => c.name === 'php');
    assert.ok(seen && isDown(seen), `podman kill is not restarted by the restart policy: ${seen?.state}`);
    await until('php started again by the agent', async () => {
      await r.pass();
      return (await driver.list())[0]?.containers.find((c) => c.name === 'php')?.state === 'running';
    });
    // the health probe answers < 500 once MariaDB is up (a fresh datadir takes a few seconds)
    let probe = await driver.probe(env.id);
    await until(`the health probe to pass (last: ${JSON.stringify(probe)})`, async () => {
      probe = await driver.probe(env.id);
      return probe.ok;
    });

    // Usage numbers come from the containers' cgroup files (no `podman stats`).
    const sampling = new PodmanDriver({ stateDir: dir, statsEveryMs: 1, images });
    await until('memory of every container from its cgroup', async () => {
      const cs = (await sampling.list())[0]?.containers ?? [];
      return cs.length === 4 && cs.every((c) => c.memoryBytes > 0 && c.cpuPercent >= 0);
    });

    r.setDesired([]);
    const removed = await r.pass();
    assert.deepEqual(
      removed.actions.map((a) => [a.action.kind, a.ok]),
      [['remove', true]],
    );
    assert.deepEqual(await driver.list(), []);
    assert.equal(podman(['pod', 'ps', '--filter', 'name=agentsmoke-production', '-q']).trim(), '');
    assert.equal(podman(['volume', 'ls', '-q', '--filter', 'name=agentsmoke-production']).trim(), '');
    assert.deepEqual(await readdir(join(dir, 'secrets')), []);
  });
});

if (reason) process.stderr.write(`podman-driver smoke test skipped: ${reason}\n`);
