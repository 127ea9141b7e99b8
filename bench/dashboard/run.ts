/**
 * Dashboard first load with 200 sites (issue 7): bundle size of the production build, and the
 * time from navigation to the sites list showing all 200 rows in headless Chromium, cold
 * (empty cache) and warm (assets cached), against a real `triplane control` (SQLite) serving the
 * build. Anchor, same run: the same page's HTML + assets fetched by the same browser from a
 * plain `node:http` static server... is not a fair anchor for an app that must call the API, so
 * the anchor here is the API call the page makes (`GET /api/v1/sites?limit=100`, twice) timed
 * from the browser — the floor no dashboard can go under.
 *
 *   node bench/dashboard/run.ts [--sites 200] [--rounds 5]
 *
 * Needs /usr/bin/chromium and apps/dashboard/dist (make dashboard). Binds 127.0.0.1 only.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { startControl } from '../../apps/triplane/src/testing/cli.ts';

const { values } = parseArgs({
  options: { sites: { type: 'string', default: '200' }, rounds: { type: 'string', default: '5' } },
});
const SITES = Number(values.sites);
const ROUNDS = Number(values.rounds);
const DIST = fileURLToPath(new URL('../../apps/dashboard/dist', import.meta.url));
const PASSWORD = 'bench-owner-password';

function bundle(): { files: number; bytes: number; gzip: number } {
  let bytes = 0;
  let gzip = 0;
  let files = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(js|css|html)$/.test(e)) {
        const b = readFileSync(p);
        bytes += b.length;
        gzip += gzipSync(b).length;
        files++;
      }
    }
  };
  walk(DIST);
  return { files, bytes, gzip };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

const control = await startControl();
const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
  const r = await fetch(`${control.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${control.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
};
try {
  const me = await api<{ user: { id: string; email: string }; memberships: { orgId: string }[] }>('GET', '/auth/me');
  await api('PATCH', `/users/${me.user.id}`, { password: PASSWORD });
  const orgId = me.memberships[0]?.orgId as string;
  for (let i = 0; i < SITES; i++) {
    await api('POST', '/sites', { orgId, name: `bench-${String(i).padStart(3, '0')}`, kind: 'wordpress', plan: 'essentials' });
  }
  const b = bundle();
  const browser = await chromium.launch({
    executablePath: process.env.TRIPLANE_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(control.url);
  await page.getByLabel('Email').fill(me.user.email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  const rows = () => page.locator('text=/^bench-\\d{3}$/').count();
  const load = async (cold: boolean): Promise<number> => {
    const cdp = await ctx.newCDPSession(page);
    if (cold) await cdp.send('Network.clearBrowserCache');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: false });
    const t0 = performance.now();
    await page.goto(`${control.url}/`, { waitUntil: 'commit' });
    // the last of the rows (the page's CSP forbids evaluating strings, so a locator, not a function)
    await page
      .locator('tbody th a')
      .nth(SITES - 1)
      .waitFor({ timeout: 60_000 });
    return performance.now() - t0;
  };
  // The session cookie must survive a cold load (only the HTTP cache is cleared).
  const cold: number[] = [];
  const warm: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    cold.push(await load(true));
    warm.push(await load(false));
  }
  // The anchor: the two API calls the page makes, with the browser's session cookie, from here.
  const cookie = (await ctx.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  const anchor: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    const first = (await (await fetch(`${control.url}/api/v1/sites?limit=100`, { headers: { cookie } })).json()) as {
      nextCursor: string | null;
    };
    await (
      await fetch(`${control.url}/api/v1/sites?limit=100&cursor=${encodeURIComponent(first.nextCursor ?? '')}`, {
        headers: { cookie },
      })
    ).json();
    anchor.push(performance.now() - t0);
  }
  const shown = await rows();
  await browser.close();
  const row = (name: string, xs: number[]) =>
    `${name.padEnd(34)} ${median(xs).toFixed(0).padStart(6)} ms  (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
  process.stdout.write(
    [
      `bundle: ${b.files} files, ${(b.bytes / 1024).toFixed(0)} KiB, ${(b.gzip / 1024).toFixed(0)} KiB gzipped`,
      `sites page, ${SITES} sites (${shown} rows shown), ${ROUNDS} rounds, median:`,
      row('first load, cold HTTP cache', cold),
      row('reload, warm HTTP cache', warm),
      row('anchor: the 2 API calls alone', anchor),
      `ratio cold/anchor ${(median(cold) / median(anchor)).toFixed(1)}x, warm/anchor ${(median(warm) / median(anchor)).toFixed(1)}x`,
      '',
    ].join('\n'),
  );
} finally {
  await control.stop();
}
