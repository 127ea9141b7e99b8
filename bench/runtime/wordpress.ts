/**
 * Runtime benchmark (root): image build (cold or warm), one WordPress environment from
 * `kube play` to an installed home page, memory per container (PSS + cgroup usage),
 * applied limits, restart/replay latency and (if `wrk` is installed) uncached home-page
 * throughput. Prints a JSON summary; tears everything down unless --keep.
 *
 *   node bench/runtime/wordpress.ts [--cold] [--keep] [--wrk-seconds 10]
 *
 * --cold removes the triplane images and the cached rootfs tarball first (full rebuild).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../packages/runtime/src/exec.ts';
import { prepareHost } from '../../packages/runtime/src/host/prepare.ts';
import { buildImages, DEFAULT_CACHE_DIR } from '../../packages/runtime/src/images/build.ts';
import { http, waitFor } from '../../packages/runtime/src/integration/http.ts';
import { essentialsSpec } from '../../packages/runtime/src/pod/fixtures.ts';
import { generateEnvironmentSecrets } from '../../packages/runtime/src/pod/secret.ts';
import { applyEnvironment, podContainers, removeEnvironment } from '../../packages/runtime/src/podman/driver.ts';

const argv = process.argv.slice(2);
const cold = argv.includes('--cold');
const keep = argv.includes('--keep');
const wrkIdx = argv.indexOf('--wrk-seconds');
const wrkSeconds = wrkIdx >= 0 ? Number(argv[wrkIdx + 1]) : 10;
const log = (m: string) => process.stderr.write(`bench: ${m}\n`);
const out: Record<string, unknown> = { date: new Date().toISOString(), cold };

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(a && typeof a === 'object' ? a.port : 0));
    });
  });
}

async function cgroupDir(pid: number, controller: string): Promise<string | null> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n');
  for (const l of lines) {
    const [, ctrls, path] = l.split(':');
    if (ctrls?.split(',').includes(controller)) return `/sys/fs/cgroup/${controller}${path}`;
  }
  return null;
}

async function readNum(p: string): Promise<number | string> {
  const s = (await readFile(p, 'utf8').catch(() => '')).trim();
  return /^\d+$/.test(s) ? Number(s) : s;
}

async function pssKiB(pid: number): Promise<number> {
  const s = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  return Number(/^Pss:\s+(\d+)/m.exec(s)?.[1] ?? 0);
}

async function containerMemory(podName: string): Promise<Record<string, unknown>> {
  const res: Record<string, unknown> = {};
  let total = 0;
  for (const c of await podContainers(podName)) {
    const mem = await cgroupDir(c.pid, 'memory');
    const pids = await cgroupDir(c.pid, 'pids');
    let pss = 0;
    const procs = mem ? (await readFile(`${mem}/cgroup.procs`, 'utf8')).split('\n').filter(Boolean).map(Number) : [c.pid];
    for (const p of procs) pss += await pssKiB(p);
    total += pss;
    res[c.name.slice(podName.length + 1)] = {
      pssMiB: +(pss / 1024).toFixed(1),
      cgroupUsageMiB: mem ? +(Number(await readNum(`${mem}/memory.usage_in_bytes`)) / 1024 ** 2).toFixed(1) : null,
      memoryLimitMiB: mem ? +(Number(await readNum(`${mem}/memory.limit_in_bytes`)) / 1024 ** 2).toFixed(1) : null,
      pidsMax: pids ? await readNum(`${pids}/pids.max`) : null,
      processes: procs.length,
    };
  }
  res.totalPssMiB = +(total / 1024).toFixed(1);
  return res;
}

async function podPidsMax(name: string): Promise<number | string> {
  const cg = (await run('podman', ['pod', 'inspect', name, '--format', '{{.CgroupPath}}'])).stdout.trim();
  return readNum(`/sys/fs/cgroup/pids${cg}/pids.max`);
}

async function duMiB(path: string): Promise<number> {
  // -x: stay on this mount (the container dirs hold id-mapped bind mounts of image layers).
  const r = await run('du', ['-sxb', path], { allowFailure: true });
  return +(Number(r.stdout.split('\t')[0] ?? 0) / 1024 ** 2).toFixed(1);
}

/** Disk owned by one environment: container upper layers (writable diffs) and its volumes. */
async function environmentDisk(podName: string, volumes: string[]): Promise<Record<string, number>> {
  const res: Record<string, number> = {};
  let total = 0;
  for (const c of await podContainers(podName)) {
    const upper = (await run('podman', ['inspect', c.name, '--format', '{{.GraphDriver.Data.UpperDir}}'])).stdout.trim();
    const mib = await duMiB(upper);
    res[`upper:${c.name.slice(podName.length + 1)}`] = mib;
    total += mib;
  }
  for (const v of volumes) {
    const mp = (await run('podman', ['volume', 'inspect', v, '--format', '{{.Mountpoint}}'])).stdout.trim();
    const mib = await duMiB(mp);
    res[`volume:${v}`] = mib;
    total += mib;
  }
  res.total = +total.toFixed(1);
  return res;
}

/** RSS of a process and its children (the edge's primary + workers), MiB. */
/** WordPress is installed under this Host (no port), so the edge (which forwards the client's Host) and direct requests look alike. */
const BENCH_HOST = 'bench.example.test';
const H = { host: BENCH_HOST };

async function treeRssMiB(pid: number): Promise<number> {
  const r = await run('ps', ['-o', 'rss=', '--pid', String(pid), '--ppid', String(pid)], { allowFailure: true });
  return Math.round(r.stdout.split('\n').reduce((a, l) => a + (Number(l.trim()) || 0), 0) / 1024);
}

/**
 * The miss path: the same wrk run through `triplane edge` (cache off: every request goes to the pod)
 * next to the direct run, and the edge's RSS under that load.
 */
async function throughEdge(base: string, seconds: number, directRps: number): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'edge-miss-'));
  const port = await freePort();
  const cfg = join(dir, 'edge.yaml');
  await writeFile(
    cfg,
    `listen: { http: "127.0.0.1:${port}" }\nsites:\n  - name: wp\n    hosts: ["*"]\n    upstreams: ["${base}"]\n    cache: { profile: "off" }\n`,
  );
  const bin = new URL('../../apps/triplane/bin/triplane', import.meta.url).pathname;
  const edge = spawn(bin, ['edge', '--config', cfg], { env: { ...process.env, TRIPLANE_LOG_LEVEL: 'warn' }, stdio: 'ignore' });
  try {
    await waitFor(`http://127.0.0.1:${port}/`, (r) => r.status === 200, 30_000, H);
    let rssPeak = 0;
    const sampler = setInterval(() => {
      void treeRssMiB(edge.pid ?? 0).then((m) => {
        rssPeak = Math.max(rssPeak, m);
      });
    }, 1000);
    const cmd = ['-t2', '-c16', `-d${seconds}s`, '--latency', '-H', `Host: ${BENCH_HOST}`, `http://127.0.0.1:${port}/`];
    const r = await run('wrk', cmd, { timeoutMs: (seconds + 30) * 1000 });
    clearInterval(sampler);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
    return {
      cmd: `wrk ${cmd.join(' ')}  (edge --config, cache off, workers = cores)`,
      rps,
      p50: /50%\s+(\S+)/.exec(r.stdout)?.[1],
      p99: /99%\s+(\S+)/.exec(r.stdout)?.[1],
      non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(r.stdout)?.[1] ?? '0'),
      ratioToDirect: Math.round((rps / directRps) * 100) / 100,
      edgeRssPeakMiB: rssPeak,
    };
  } finally {
    edge.kill('SIGTERM');
    await sleep(1000);
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  let t = Date.now();
  await prepareHost({ onProgress: (m) => log(`host: ${m}`) });
  out.hostPrepareMs = Date.now() - t;

  if (cold) {
    log('cold: removing triplane images and the cached rootfs tarball');
    const imgs = await run('podman', [
      'images',
      '--format',
      '{{.Repository}}:{{.Tag}}',
      '--filter',
      'reference=localhost/triplane/*',
    ]);
    for (const tag of imgs.stdout.split('\n').filter(Boolean).reverse())
      await run('podman', ['rmi', '-f', tag], { allowFailure: true });
    for (const f of await readdir(DEFAULT_CACHE_DIR).catch(() => [] as string[]))
      if (f.startsWith('rootfs-')) await rm(`${DEFAULT_CACHE_DIR}/${f}`, { force: true });
  }
  const steps: Record<string, number> = {};
  const started: Record<string, number> = {};
  t = Date.now();
  const images = await buildImages({
    onProgress: (p) => {
      if (p.step === 'rootfs.debootstrap' || p.step === 'image.build') started[p.image ?? ''] = p.elapsedMs;
      if ((p.step === 'rootfs.import' || p.step === 'image.built') && p.line === undefined) {
        steps[p.image ?? ''] = p.elapsedMs - (started[p.image ?? ''] ?? p.elapsedMs);
        log(`built ${p.image} in ${steps[p.image ?? '']} ms`);
      }
    },
  });
  out.imageBuild = { totalMs: Date.now() - t, perImageMs: steps, built: images.built, cached: images.cached, tags: images.tags };
  const sizes = await run('podman', [
    'images',
    '--format',
    '{{.Repository}}:{{.Tag}} {{.Size}}',
    '--filter',
    'reference=localhost/triplane/*',
  ]);
  out.imageSizes = sizes.stdout.trim().split('\n');

  const port = await freePort();
  const spec = essentialsSpec({
    siteId: 'bench',
    envName: 'wp',
    uidSlot: 15100,
    images: {
      web: images.tags.web as string,
      php: images.tags.php as string,
      redis: images.tags.redis as string,
      mariadb: images.tags.mariadb as string,
    },
    web: { hostPort: port },
    volumes: { wpContent: 'bench-wp-wp-content', dbData: 'bench-wp-db-data' },
    secrets: {
      dbPassword: { secret: 'bench-wp-secrets', key: 'db-password' },
      wpSalt: { secret: 'bench-wp-secrets', key: 'wp-salt' },
    },
  });
  await removeEnvironment(spec, { purge: true });
  const secrets = generateEnvironmentSecrets();
  const base = `http://127.0.0.1:${port}`;
  const ok = (r: { status: number }) => r.status === 200 || r.status === 302;

  t = Date.now();
  await applyEnvironment(spec, { secrets });
  const playMs = Date.now() - t;
  const first = await waitFor(`${base}/`, ok, 120_000);
  out.freshPod = { kubePlayMs: playMs, firstResponseMs: Date.now() - t, firstStatus: first.res.status };

  const pw = `Bench-${secrets['wp-salt']?.slice(0, 16)}`;
  t = Date.now();
  const inst = await http(`${base}/wp-admin/install.php?step=2`, {
    headers: H,
    form: {
      weblog_title: 'Bench',
      user_name: 'admin',
      admin_password: pw,
      admin_password2: pw,
      pw_weak: 'on',
      admin_email: 'a@example.com',
      blog_public: '0',
    },
    timeoutMs: 120_000,
  });
  if (inst.status !== 200) throw new Error(`install failed: ${inst.status}`);
  out.installMs = Date.now() - t;
  const home = await http(`${base}/`, { headers: H });
  if (home.status !== 200 || !/name="generator" content="WordPress/.test(home.body)) throw new Error(`home page: ${home.status}`);
  out.fromPlayToInstalledHomeMs = (out.freshPod as { firstResponseMs: number }).firstResponseMs + (out.installMs as number);

  // Stop/start (containers kept: no new id-mapped layer copy) and replay (--replace: new containers).
  t = Date.now();
  await run('podman', ['pod', 'stop', '-t', '10', 'bench-wp']);
  const stopMs = Date.now() - t;
  t = Date.now();
  await run('podman', ['pod', 'start', 'bench-wp']);
  await waitFor(`${base}/`, (r) => r.status === 200, 60_000, H);
  const startMs = Date.now() - t;
  t = Date.now();
  await applyEnvironment(spec, { secrets });
  await waitFor(`${base}/`, (r) => r.status === 200, 60_000, H);
  out.restart = { podStopMs: stopMs, podStartToFirst200Ms: startMs, replaceToFirst200Ms: Date.now() - t };

  // Warm the page a little, then memory, limits and disk.
  for (let i = 0; i < 20; i++) await http(`${base}/`, { headers: H });
  out.memoryAfterWarmup = await containerMemory('bench-wp');
  out.podPidsMax = await podPidsMax('bench-wp');
  out.diskMiB = await environmentDisk('bench-wp', [spec.volumes.wpContent, spec.volumes.dbData as string]);

  const wrk = await run('sh', ['-c', 'command -v wrk'], { allowFailure: true });
  if (wrk.code === 0 && wrkSeconds > 0) {
    const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
    const r = await run('wrk', ['-t2', '-c16', `-d${wrkSeconds}s`, '--latency', '-H', `Host: ${BENCH_HOST}`, `${base}/`], {
      timeoutMs: (wrkSeconds + 30) * 1000,
    });
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1];
    const p50 = /50%\s+(\S+)/.exec(r.stdout)?.[1];
    const p99 = /99%\s+(\S+)/.exec(r.stdout)?.[1];
    const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(r.stdout)?.[1] ?? '0';
    out.wrkHome = {
      loadBefore: load,
      cmd: `wrk -t2 -c16 -d${wrkSeconds}s --latency -H 'Host: ${BENCH_HOST}' ${base}/`,
      rps: Number(rps),
      p50,
      p99,
      non2xx: Number(non2xx),
    };
    out.memoryAfterWrk = await containerMemory('bench-wp');
    out.wrkThroughEdge = await throughEdge(base, wrkSeconds, Number(rps));
  } else {
    out.wrkHome = 'wrk not installed (apt-get install wrk)';
  }
  if (!keep) {
    await removeEnvironment(spec, { purge: true });
  } else {
    out.kept = { url: base, admin: 'admin', password: pw };
  }
  await sleep(0);
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

await main();
