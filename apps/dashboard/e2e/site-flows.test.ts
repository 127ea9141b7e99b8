/**
 * The dashboard's site flows in a real browser against the real platform (root + Podman only):
 * Debian's Chromium (playwright-core) signed in as the owner, a real `triplane control` serving
 * the production build, a `triplane agent` running the site's pods and a `triplane edge`
 * (1 worker, so one cache) in front of them. In order, through the dashboard only:
 *
 *   create a WordPress site with a domain and follow its job to "succeeded"; traffic through the
 *   edge moves the site's requests chart; purge by URL and everything, the edge's next answer is
 *   a MISS; take a backup, change the site, restore it (the confirmation names what it
 *   overwrites) and the change is gone; download the backup; create staging and see it listed;
 *   delete the site, restore its pre-delete backup as a new site with a new domain, which serves
 *   the deleted site's last content through the edge.
 *
 * Each flow is a test; after a failure the later ones are skipped (they build on it).
 *
 *   node scripts/test.ts apps/dashboard/e2e/site-flows.test.ts
 *
 * Screenshots → docs/screenshots/{site-charts,backups,job-progress}.png.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { podmanTestsOneAtATime } from '@triplane/runtime/integration/one-at-a-time';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import {
  BIN,
  freePort,
  log,
  removePods,
  run,
  skipReason,
  sleep,
  startAgent,
  startEdge,
  stopProcess,
  waitUntil,
} from '../../../e2e/support.ts';
import { type ControlProcess, POD_WEB_PORTS, startControl, tempDir, triplane } from '../../triplane/src/testing/cli.ts';

podmanTestsOneAtATime();

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const SHOTS = join(REPO, 'docs', 'screenshots');
const CHROMIUM = process.env.TRIPLANE_CHROMIUM ?? '/usr/bin/chromium';
const OWNER_EMAIL = 'owner@triplane.local';
const OWNER_PASSWORD = 'owner-password-for-site-flows';
const SITE = 'flows';
const DOMAIN = 'flows.example.test';
const POD = `${SITE}-production`;
/** The site brought back from its pre-delete backup, under a new name and domain. */
const RESTORED = 'flows-back';
const RESTORED_DOMAIN = 'flows-back.example.test';
const PODS = [POD, `${SITE}-staging`, `${RESTORED}-production`];
const GENERATOR = /<meta name="generator" content="WordPress/;

let skip: string | undefined;
let broken: string | undefined;
let cp: ControlProcess | undefined;
let agent: ChildProcess | undefined;
let edge: ChildProcess | undefined;
let browser: Browser | undefined;
let page: Page;
const dir = tempDir('triplane-site-flows-');
const ports = { http: 0, https: 0, metrics: 0 };
const consoleErrors: string[] = [];
/** API answers of 500 and up the browser got (method and path). */
const serverErrors: string[] = [];
/** The production environment's id, once the site exists. */
let envId = '';

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const c = cp as ControlProcess;
  const r = await fetch(`${c.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${c.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path} → ${r.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** One statement batch in the site's database container; the output without column names. */
async function sql(statements: string): Promise<string> {
  const r = await run('podman', [
    'exec',
    `${POD}-db`,
    'mariadb',
    '--batch',
    '--skip-column-names',
    '-e',
    statements,
    'wordpress',
  ]);
  assert.equal(r.code, 0, `sql: ${r.stderr}`);
  return r.stdout.trim();
}

/** A request to the edge's HTTPS listener for the site's domain (SNI and Host), trusting the platform CA. */
function edgeGet(path: string, domain = DOMAIN): Promise<{ status: number; body: string }> {
  const ca = readFileSync(join(dir.path, 'edge', 'tls', 'ca.crt'));
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: ports.https, path, servername: domain, headers: { host: domain }, ca, timeout: 15_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer in 15 s`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * How the edge answered this environment's requests so far, by cache status (HIT, MISS, …), from
 * its own Prometheus counters (an edge joined to a control plane sends no X-Cache header).
 */
async function edgeCacheCounts(): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
  const site = envId.toLowerCase().replace(/[^a-z0-9-]+/g, '-');
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^triplane_edge_requests_total\{([^}]*)\} (\d+)/gm)) {
    const labels = m[1] ?? '';
    if (!labels.includes(`site="${site}"`)) continue;
    const cache = /cache="([^"]*)"/.exec(labels)?.[1] ?? '';
    out[cache] = (out[cache] ?? 0) + Number(m[2]);
  }
  return out;
}

/** GET `path` through the edge and say how its cache answered it (the counter that moved). */
async function cacheStatusOf(path: string): Promise<string> {
  const before = await edgeCacheCounts();
  const r = await edgeGet(path);
  assert.equal(r.status, 200, `GET ${path} through the edge`);
  // the worker counts the request as the response ends; the primary aggregates on scrape
  return waitUntil(`the edge counting GET ${path}`, 5000, async () => {
    const now = await edgeCacheCounts();
    return Object.keys(now).find((k) => (now[k] ?? 0) > (before[k] ?? 0));
  });
}

async function shot(target: Page | Locator, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await target.screenshot({ path: join(SHOTS, `${name}.png`) });
}

const section = (title: string) => page.locator('section', { has: page.getByRole('heading', { name: title, exact: true }) });

/** The y coordinates drawn by a chart: every point of its polylines (the baseline is y = 106). */
function chartYs(title: string): Promise<number[]> {
  return page
    .locator('figure.chart', { has: page.getByText(title, { exact: true }) })
    .locator('polyline')
    .evaluateAll((lines) =>
      lines.flatMap((l) =>
        (l.getAttribute('points') ?? '')
          .split(' ')
          .filter(Boolean)
          .map((p) => Number(p.split(',')[1])),
      ),
    );
}

/** A flow: skipped when an earlier one failed (each builds on the last); a failure leaves a screenshot. */
function flow(name: string, fn: () => Promise<void>): void {
  test(name, { timeout: 900_000 }, async (t) => {
    if (skip) return t.skip(skip);
    if (broken) return t.skip(`an earlier flow failed: ${broken}`);
    const t0 = Date.now();
    try {
      await fn();
      log(`${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } catch (e) {
      broken = name;
      const path = join(tmpdir(), `triplane-site-flows-failure-${Date.now()}.png`);
      await page?.screenshot({ path, fullPage: true }).catch(() => {});
      throw new Error(`${(e as Error).message}\nscreenshot: ${path}`, { cause: e });
    }
  });
}

before(
  async () => {
    skip = await skipReason();
    if (skip) return;
    const images = await run(BIN, ['images', 'build'], { timeoutMs: 30 * 60_000 });
    assert.equal(images.code, 0, images.stderr);
    if (!existsSync(join(REPO, 'apps', 'dashboard', 'dist', 'index.html'))) {
      const b = await run('npm', ['run', 'build', '-w', '@triplane/dashboard'], { timeoutMs: 300_000 });
      assert.equal(b.code, 0, b.stdout + b.stderr);
    }
    await removePods(PODS);
    // No schedule: today's catch-up backup and its retention run (keep-daily keeps one snapshot a
    // day) would take and prune backups under this test.
    cp = await startControl({ workers: 1, args: ['--no-backup-schedule'], webPorts: POD_WEB_PORTS });
    const env = cp.env();
    const me = await api<{ user: { id: string } }>('GET', '/auth/me');
    await api('PATCH', `/users/${me.user.id}`, { password: OWNER_PASSWORD });
    const joinToken = async (name: string, role: string) => {
      const r = await triplane(['server', 'create', name, '--role', role, '--json'], { env });
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { joinToken: string }).joinToken;
    };
    agent = startAgent({ api: cp.url, dir: dir.path, env, joinToken: await joinToken('app1', 'app') });
    // A site created before its app server is online waits for the agent's next heartbeat to be placed.
    await waitUntil('the agent online', 60_000, async () => {
      const servers = await api<{ items: { name: string; status: string }[] }>('GET', '/servers');
      return servers.items.find((x) => x.name === 'app1')?.status === 'online' ? true : undefined;
    });
    ports.http = await freePort();
    ports.https = await freePort();
    ports.metrics = await freePort();
    // One worker: one cache, so "the next request" after a purge is answered by the cache that was purged.
    // A 2 s metrics push (instead of 10 s) keeps the wait for the charts short.
    edge = startEdge({
      api: cp.url,
      dir: dir.path,
      env: { ...env, TRIPLANE_METRICS_INTERVAL_MS: '2000' },
      joinToken: await joinToken('edge1', 'edge'),
      ports,
      workers: 1,
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    page = await ctx.newPage();
    page.setDefaultTimeout(20_000);
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    page.on('response', (r) => {
      if (r.status() >= 500) serverErrors.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
    });
  },
  { timeout: 35 * 60_000 },
);

after(
  async () => {
    if (skip) return dir.remove();
    await browser?.close();
    // (a flow deletes SITE; whatever is left goes without a pre-delete backup: nothing keeps it)
    for (const name of cp ? [SITE, RESTORED] : []) {
      const env = (cp as ControlProcess).env();
      await triplane(['site', 'delete', name, '--confirm', name, '--no-backup'], { env, timeoutMs: 120_000 }).catch(() => {});
    }
    await stopProcess(edge);
    await stopProcess(agent);
    const controlOutput = cp?.output() ?? '';
    await cp?.stop();
    await removePods(PODS);
    if (process.exitCode || broken) {
      log(`control:\n${controlOutput.slice(-3000)}`);
      for (const f of ['agent.log', 'edge.log'])
        if (existsSync(join(dir.path, f))) log(`${f}:\n${readFileSync(join(dir.path, f), 'utf8').slice(-4000)}`);
    }
    dir.remove();
  },
  { timeout: 300_000 },
);

flow('sign in, create a WordPress site with a domain, its job bar goes to done, the environment runs', async () => {
  const c = cp as ControlProcess;
  await page.goto(`${c.url}/`);
  await page.getByLabel('Email').fill(OWNER_EMAIL);
  await page.getByLabel('Password').fill(OWNER_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: /^Sites of / }).waitFor();

  await page.getByLabel('Name', { exact: true }).fill(SITE);
  assert.equal(await page.getByLabel('Application').inputValue(), 'wordpress');
  await page.getByLabel('Domains').fill(DOMAIN);
  await page.getByRole('button', { name: 'Add site' }).click();
  const job = page.locator('.live-job');
  const bar = job.getByRole('progressbar', { name: 'site.provision progress' });
  await bar.waitFor();
  await job.getByText('succeeded', { exact: true }).waitFor({ timeout: 60_000 });
  assert.equal(await bar.getAttribute('aria-valuenow'), '100');
  assert.ok(await page.getByLabel('WordPress admin password for admin').isVisible());

  await page.getByRole('link', { name: SITE, exact: true }).first().click();
  await page.getByRole('heading', { name: 'Environment production', exact: true }).waitFor();
  await page.getByText(DOMAIN, { exact: true }).waitFor();
  const site = await api<{ items: { id: string; name: string }[] }>('GET', '/sites');
  const detail = await api<{ environments: { id: string; name: string }[] }>(
    'GET',
    `/sites/${site.items.find((s) => s.name === SITE)?.id}`,
  );
  envId = detail.environments.find((e) => e.name === 'production')?.id ?? '';
  assert.ok(envId);
  // The agent pulls the pod up and installs WordPress; the page shows it running (it polls every 5 s).
  await section('Environment production')
    .locator('dd .badge', { hasText: /^running$/ })
    .waitFor({ timeout: 300_000 });
  await page.getByRole('cell', { name: 'php', exact: true }).first().waitFor({ timeout: 30_000 });
});

flow("traffic through the edge moves the site's requests chart", async () => {
  const perf = section('Performance');
  await perf.locator('figure.chart').first().waitFor();
  await perf.getByText('No traffic recorded in this range yet').waitFor();
  assert.ok(
    (await chartYs('Requests per second')).every((y) => y >= 106),
    'a flat chart before any traffic',
  );

  // The edge learns the route from its snapshot once the environment runs; WordPress answers once installed.
  await waitUntil('the home page through the edge', 180_000, async () => {
    const r = await edgeGet('/');
    return r.status === 200 && GENERATOR.test(r.body) ? true : undefined;
  });
  // A bounded load: at most 1,500 requests or 60 s, whichever comes first; it also ends once the chart moved.
  let moved = false;
  let sent = 0;
  const paths = ['/', '/?p=1', '/wp-login.php', '/no-such-page/'];
  const traffic = (async () => {
    const deadline = Date.now() + 60_000;
    while (!moved && sent < 1500 && Date.now() < deadline) {
      await edgeGet(paths[sent % paths.length] as string).catch(() => undefined);
      sent++;
      await sleep(40);
    }
  })();
  try {
    // two 10 s points with traffic: the chart moved, and keeps moving while the traffic goes on
    await waitUntil('non-zero points on the requests chart', 75_000, async () =>
      (await chartYs('Requests per second')).filter((y) => y < 106).length >= 2 ? true : undefined,
    );
  } finally {
    moved = true;
    await traffic;
  }
  log(`${sent} requests through the edge`);
  await perf.getByText('No traffic recorded in this range yet').waitFor({ state: 'detached' });
  const statuses = await chartYs('Responses by status');
  assert.ok(
    statuses.some((y) => y < 106),
    'the status chart moved too',
  );
  await perf.scrollIntoViewIfNeeded();
  await shot(page, 'site-charts');

  // The same requests are in the environment's logs (edge access lines, shipped every 2 s).
  const logs = section('Logs').first();
  await waitUntil('the traffic in the logs panel', 60_000, async () => {
    await logs.getByRole('button', { name: 'Refresh', exact: true }).click();
    await sleep(500);
    return (await logs.getByText('/no-such-page/').count()) > 0 ? true : undefined;
  });
  await logs.getByLabel('Kind').selectOption('access');
  await logs.getByText('/no-such-page/').first().waitFor();
});

/**
 * Purge from the dashboard with the form as it is set, then wait until the edge applied it: its
 * persisted snapshot (written after the purges of a snapshot ran) has reached the purge's seq.
 */
async function purgeFromDashboard(button: string, recorded: RegExp): Promise<void> {
  const purge = section('Cache purge');
  await purge.getByRole('button', { name: button, exact: true }).click();
  const status = purge.getByRole('status').filter({ hasText: recorded });
  await status.waitFor();
  const seq = Number(/Purge #(\d+)/.exec((await status.textContent()) ?? '')?.[1]);
  assert.ok(seq > 0);
  const file = join(dir.path, 'edge', 'snapshot.json');
  await waitUntil(`the edge applying purge #${seq}`, 10_000, async () => {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { snapshot: { purgeSeq?: number } };
    return (saved.snapshot.purgeSeq ?? 0) >= seq ? true : undefined;
  });
  // the primary hands the purge to its worker over IPC: a moment for that message to land
  await sleep(200);
}

flow('purge by URL and everything from the dashboard: the edge answers the next request from the origin', async () => {
  // Cached: a repeated anonymous request is a HIT.
  await waitUntil('a cache HIT for /', 10_000, async () => ((await cacheStatusOf('/')) === 'HIT' ? true : undefined));
  const purge = section('Cache purge');
  await purge.getByRole('radio', { name: 'URL' }).check();
  await purge.getByLabel('URLs or paths, one per line').fill('/');
  await purgeFromDashboard('Purge', /Purge #\d+ recorded \(url: \/\)/);
  assert.equal(await cacheStatusOf('/'), 'MISS', 'the first request after the URL purge');
  assert.equal(await cacheStatusOf('/'), 'HIT', 'stored again after the miss');

  await purge.getByRole('radio', { name: 'Everything' }).check();
  await purgeFromDashboard('Purge everything', /Purge #\d+ recorded \(all\)/);
  assert.equal(await cacheStatusOf('/'), 'MISS', 'the first request after purging everything');
});

const MARKER_SQL = "SELECT option_value FROM wp_options WHERE option_name = 'blogdescription';";

flow('take a backup, change the site, restore it with the confirmation: the change is gone; download it', async () => {
  const backups = section('Backups');
  await backups.getByText('No backups yet.').waitFor();
  await backups.getByRole('button', { name: 'Take a backup now' }).click();
  await backups.getByRole('progressbar', { name: 'backup.create progress' }).waitFor();
  // (the job runs at nice 19 / idle IO on the app server: on a busy machine it waits its turn)
  await backups.locator('.live-job').getByText('succeeded', { exact: true }).waitFor({ timeout: 300_000 });
  const manual = backups.locator('li.backup', { has: page.locator('.badge', { hasText: /^manual$/ }) });
  await manual.waitFor();
  assert.match((await manual.textContent()) ?? '', /db \d+(\.\d)? (KiB|MiB) · files/);

  const original = await sql(MARKER_SQL);
  await sql("UPDATE wp_options SET option_value = 'Changed after the backup' WHERE option_name = 'blogdescription';");
  assert.equal(await sql(MARKER_SQL), 'Changed after the backup');

  await manual.getByRole('button', { name: 'Restore…' }).click();
  const confirm = manual.getByRole('form', { name: /^Confirm the restore of the backup of / });
  await confirm.waitFor();
  assert.match(
    (await confirm.locator('.warn-text').textContent()) ?? '',
    new RegExp(
      `^This overwrites the database and the files of production of ${SITE} with the snapshot of .+\\. A safety backup is taken first\\.$`,
    ),
  );
  await confirm.getByLabel('Restore', { exact: true }).selectOption('database');
  assert.match((await confirm.locator('.warn-text').textContent()) ?? '', /^This overwrites the database of production of/);
  await confirm.getByLabel('Restore', { exact: true }).selectOption('full');
  const restore = confirm.getByRole('button', { name: 'Restore', exact: true });
  assert.ok(await restore.isDisabled(), 'nothing is overwritten before the box is ticked');
  await confirm.getByLabel('I understand what will be overwritten').check();
  await restore.click();
  const bar = backups.getByRole('progressbar', { name: 'backup.restore progress' });
  await bar.waitFor();
  await backups.locator('.live-job').getByText('succeeded', { exact: true }).waitFor({ timeout: 300_000 });
  assert.equal(await sql(MARKER_SQL), original, 'the restore brought the option back');
  // the safety backup taken first is listed next to the one restored
  await backups.locator('li.backup .badge', { hasText: /^pre-restore$/ }).waitFor({ timeout: 20_000 });

  // Download: the app server exports the backup as a .tar.gz, then the browser saves it.
  await manual.getByRole('button', { name: /^Download the backup of / }).click();
  await manual.getByRole('progressbar', { name: 'backup.export progress' }).waitFor();
  const save = manual.getByRole('link', { name: /^Save .+\.tar\.gz$/ });
  await save.waitFor({ timeout: 300_000 });
  const [download] = await Promise.all([page.waitForEvent('download'), save.click()]);
  assert.match(download.suggestedFilename(), new RegExp(`^${SITE}-production-\\d{8}-\\d{6}\\.tar\\.gz$`));
  const archive = join(dir.path, 'download.tar.gz');
  await download.saveAs(archive);
  const entries = (await run('tar', ['-tzf', archive])).stdout.split('\n');
  for (const e of ['db.sql', 'environment.json']) assert.ok(entries.includes(e), `${e} in ${entries.slice(0, 10).join(', ')}`);
  await backups.scrollIntoViewIfNeeded();
  await shot(backups, 'backups');
});

flow('create staging from the dashboard: its job finishes and the staging environment is listed', async () => {
  const staging = section('Staging');
  assert.equal(await staging.getByLabel('Staging environment name').inputValue(), 'staging');
  await staging.getByRole('button', { name: 'Create staging from production' }).click();
  const job = staging.locator('.live-job');
  const bar = job.getByRole('progressbar', { name: 'env.sync progress' });
  await bar.waitFor();
  // A picture of the bar on its way (past the preparation), if the copy is slow enough to catch one.
  await waitUntil('the copy under way', 120_000, async () => {
    const v = Number(await bar.getAttribute('aria-valuenow'));
    return v >= 20 ? true : undefined;
  }).catch(() => undefined);
  await staging.scrollIntoViewIfNeeded();
  await shot(staging, 'job-progress');
  await job.getByText('succeeded', { exact: true }).waitFor({ timeout: 420_000 });
  assert.equal(await bar.getAttribute('aria-valuenow'), '100');

  const tab = page.getByRole('button', { name: /^staging/ });
  await tab.waitFor();
  await tab.click();
  await page.getByRole('heading', { name: 'Environment staging', exact: true }).waitFor();
  await section('Environment staging')
    .locator('dd .badge', { hasText: /^running$/ })
    .waitFor({ timeout: 60_000 });
  const sites = await api<{ items: { id: string; name: string }[] }>('GET', '/sites');
  const envs = await api<{ items: { name: string }[] }>(
    'GET',
    `/sites/${sites.items.find((s) => s.name === SITE)?.id}/environments`,
  );
  assert.deepEqual(envs.items.map((e) => e.name).sort(), ['production', 'staging']);
});

flow('delete the site; its pre-delete backup restored as a new site serves its last content on a new domain', async () => {
  // Written after every other backup of the site: only the pre-delete backup has it.
  const MARKER = 'Written before the delete';
  await sql(`UPDATE wp_options SET option_value = '${MARKER}' WHERE option_name = 'blogdescription';`);
  const danger = section('Delete this site');
  assert.match((await danger.textContent()) ?? '', /A backup of each running environment is taken first/);
  const del = danger.getByRole('button', { name: 'Delete site', exact: true });
  assert.ok(await del.isDisabled(), 'nothing is deleted before the name is typed');
  await danger.getByLabel(`Type ${SITE} to confirm`).fill(SITE);
  await del.click();
  const deletion = danger.locator('.live-job');
  await deletion.getByRole('progressbar', { name: 'site.delete progress' }).waitFor();
  // (the pre-delete backups run in the idle CPU class: on a busy machine they wait their turn)
  const outcome = deletion.locator('.badge', { hasText: /^(succeeded|failed|cancelled)$/ });
  await outcome.waitFor({ timeout: 420_000 });
  assert.equal(await outcome.textContent(), 'succeeded', (await deletion.textContent()) ?? '');
  await danger.getByRole('button', { name: 'Back to the sites' }).click();
  const sites = page.getByRole('table', { name: 'Sites', exact: true });
  await page.getByRole('heading', { name: /^Sites of / }).waitFor();
  await page.getByText(/^\d+ sites?\b/).waitFor(); // the list is loaded
  assert.equal(await sites.getByRole('link', { name: SITE, exact: true }).count(), 0, 'the site is gone from the list');

  const preDelete = (p: Page) =>
    p
      .locator('section', { has: p.getByRole('heading', { name: "Deleted sites' backups", exact: true }) })
      .getByRole('row')
      .filter({ has: p.getByRole('rowheader', { name: SITE, exact: true }) })
      .filter({ has: p.getByRole('cell', { name: 'pre-delete', exact: true }) });

  const row = preDelete(page);
  await row.waitFor();
  await row.getByRole('button', { name: 'Restore as new site' }).click();
  const form = row.getByRole('form', { name: `Restore ${SITE} as a new site` });
  await form.getByLabel('New site name').fill(RESTORED);
  await form.getByLabel('Domain').fill(RESTORED_DOMAIN);
  await form.getByRole('button', { name: 'Restore', exact: true }).click();
  const job = row.locator('.live-job');
  const bar = job.getByRole('progressbar', { name: 'env.sync progress' });
  await bar.waitFor();
  const restored = job.locator('.badge', { hasText: /^(succeeded|failed|cancelled)$/ });
  await restored.waitFor({ timeout: 420_000 });
  assert.equal(await restored.textContent(), 'succeeded', (await job.textContent()) ?? '');
  assert.equal(await bar.getAttribute('aria-valuenow'), '100');
  await sites.getByRole('link', { name: RESTORED, exact: true }).waitFor({ timeout: 30_000 });

  // The edge routes the new domain once the environment runs: the page is the deleted site's last
  // state (its tagline), its URLs rewritten to the new domain.
  const home = await waitUntil(`${RESTORED_DOMAIN} through the edge`, 180_000, async () => {
    const r = await edgeGet('/', RESTORED_DOMAIN);
    return r.status === 200 && r.body.includes(MARKER) ? r : undefined;
  });
  assert.ok(home.body.includes(`https://${RESTORED_DOMAIN}/`), 'links to the new domain');
  assert.ok(!home.body.includes(`://${DOMAIN}`), 'no link to the deleted site’s domain');

  // The file manager and database browser ask the app server, which answers 503 while the pod
  // (or its database container) is not up yet, and the API 409 while an environment is being
  // deleted (its agent no longer serves it): shown on the page as what it is. Nothing else may fail.
  const expected503 = /^503 GET \/api\/v1\/environments\/env_\w+\/(files|db)(\/|\?|$)/;
  assert.deepEqual(
    serverErrors.filter((e) => !expected503.test(e)),
    [],
  );
  assert.deepEqual(
    consoleErrors.filter((e) => !/status of (40[1349]|503)/.test(e)),
    [],
  );
});
