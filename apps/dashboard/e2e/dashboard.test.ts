/**
 * The dashboard end to end in a real browser: Debian's Chromium driven by playwright-core,
 * against a real `triplane control` (child process, SQLite in a temp dir, one job worker)
 * serving the production build. No agent runs: a new site's job places it "waiting for an app
 * server" and finishes — which is what the progress bar shows.
 *
 * Run: node scripts/test.ts apps/dashboard/e2e/dashboard.test.ts
 * Builds apps/dashboard/dist first when it is missing. Screenshots → docs/screenshots/*.png.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { type ControlProcess, startControl } from '../../triplane/src/testing/cli.ts';

const APP_DIR = fileURLToPath(new URL('..', import.meta.url));
const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const SHOTS = join(REPO, 'docs', 'screenshots');
const CHROMIUM = process.env.TRIPLANE_CHROMIUM ?? '/usr/bin/chromium';
const OWNER_EMAIL = 'owner@triplane.local';
const OWNER_PASSWORD = 'owner-password-for-e2e';
const VIEWER_EMAIL = 'viewer@example.test';
const VIEWER_PASSWORD = 'viewer-password-for-e2e';

let control: ControlProcess;
let browser: Browser;

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const r = await fetch(`${control.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${control.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path} → ${r.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

function buildIfMissing(): void {
  if (existsSync(join(APP_DIR, 'dist', 'index.html'))) return;
  const vite = join(REPO, 'node_modules', '.bin', 'vite');
  const r = spawnSync(vite, ['build'], { cwd: APP_DIR, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`vite build failed:\n${r.stdout}\n${r.stderr}`);
}

async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Sign in with the keyboard only, checking that focus is visible on the way. */
async function signInByKeyboard(page: Page, email: string, password: string): Promise<void> {
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('type')), 'email');
  await page.keyboard.type(email);
  await page.keyboard.press('Tab');
  await page.keyboard.type(password);
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => {
    const el = document.activeElement as HTMLElement;
    const cs = getComputedStyle(el);
    return { text: el.textContent, outline: cs.outlineStyle, width: Number.parseFloat(cs.outlineWidth) };
  });
  assert.equal(focused.text, 'Sign in');
  assert.ok(focused.outline !== 'none' && focused.width >= 2, `focus not visible: ${JSON.stringify(focused)}`);
  await page.keyboard.press('Enter');
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}

/** Every control marked as mutating on the page, and those of them not disabled. */
async function mutatingControls(page: Page): Promise<{ total: number; enabled: string[] }> {
  return page.$$eval('[data-mutating]', (els) => ({
    total: els.length,
    enabled: els.filter((e) => !e.matches(':disabled')).map((e) => e.outerHTML.slice(0, 120)),
  }));
}

before(async () => {
  buildIfMissing();
  control = await startControl({ workers: 1 });
  // `triplane init` makes a token-only owner; give it a password to sign in with.
  const me = await api<{ user: { id: string } }>('GET', '/auth/me');
  await api('PATCH', `/users/${me.user.id}`, { password: OWNER_PASSWORD });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
});

after(async () => {
  await browser?.close();
  await control?.stop();
});

test('sign in, sites, a new site with its live job, purge, jobs, audit, servers, members; a viewer can change nothing', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await ctx.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  try {
    await run(page, consoleErrors);
  } catch (e) {
    // What the browser showed when it failed, for the person reading the test output.
    const path = join(tmpdir(), `triplane-dashboard-failure-${Date.now()}.png`);
    await page.screenshot({ path, fullPage: true }).catch(() => {});
    throw new Error(`${(e as Error).message}\nscreenshot: ${path}`, { cause: e });
  } finally {
    await ctx.close();
  }
});

async function run(page: Page, consoleErrors: string[]): Promise<void> {
  // The production build is served by `triplane control`, with its CSP.
  const first = await page.goto(`${control.url}/`);
  assert.equal(first?.status(), 200);
  assert.match((await first?.headerValue('content-security-policy')) ?? '', /script-src 'self'/);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();

  // A wrong password: the API's error code is shown where it happened.
  await page.getByLabel('Email').fill(OWNER_EMAIL);
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'TRIPLANE_ERR_UNAUTHENTICATED' }).waitFor();
  await shot(page, 'sign-in');

  await page.getByLabel('Password').fill(OWNER_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: /^Sites of / }).waitFor();
  assert.match(await page.getByLabel('Organization', { exact: true }).inputValue(), /^org_/);

  // Add a site; its provisioning job is followed live (SSE) to the end.
  await page.getByLabel('Name', { exact: true }).fill('shop');
  await page.getByLabel('Domains').fill('shop.example.test');
  await page.getByRole('button', { name: 'Add site' }).click();
  const bar = page.getByRole('progressbar', { name: 'site.provision progress' }).first();
  await bar.waitFor();
  await page.locator('.live-job').getByText('succeeded').waitFor({ timeout: 30_000 });
  assert.equal(await bar.getAttribute('aria-valuenow'), '100');
  assert.ok(await page.getByText('WordPress admin password for').isVisible());
  await page.getByRole('row', { name: /shop/ }).getByText('active').waitFor({ timeout: 15_000 });
  await shot(page, 'sites');

  // The site page: environment, domains, purge, WAF events, feature slots.
  await page.getByRole('link', { name: 'shop', exact: true }).first().click();
  await page.getByRole('heading', { name: 'Environment production', exact: true }).waitFor();
  await page.getByText('shop.example.test').waitFor();
  await page.getByLabel('Add a domain').fill('www.shop.example.test');
  await page.getByRole('button', { name: 'Add domain' }).click();
  await page.getByText('www.shop.example.test', { exact: true }).waitFor();
  await page.getByRole('radio', { name: 'Tag' }).check();
  await page.getByLabel('Cache tags, one per line').fill('cat_p_42');
  await page.getByRole('button', { name: 'Purge', exact: true }).click();
  await page.getByText(/Purge #\d+ recorded \(tag: cat_p_42\)/).waitFor();
  await page.getByRole('radio', { name: 'Everything' }).check();
  await page.getByRole('button', { name: 'Purge everything' }).click();
  await page.getByText(/Purge #\d+ recorded \(all\)/).waitFor();
  await page.getByText('No WAF events for this environment.').waitFor();
  // Slots for APIs being built: "not available yet" only because the API answered 404.
  const backups = page.locator('section', { has: page.getByRole('heading', { name: 'Backups', exact: true }) });
  await backups
    .getByText(/Not available yet|No backups yet|TRIPLANE_ERR_/)
    .first()
    .waitFor();
  // The file manager (its breadcrumb shows at once; the listing or the agent's error follows).
  await page
    .locator('section', { has: page.getByRole('heading', { name: 'File manager', exact: true }) })
    .getByRole('button', { name: 'wp-content' })
    .waitFor();
  // Charts when the metrics API answers, else its slot.
  await page.locator('figure.chart, [data-slot="Performance"]').first().waitFor();
  await shot(page, 'site');

  // A second environment: the environment switcher, then its deletion by typed confirmation.
  await page.getByLabel('Environment name', { exact: true }).fill('qa');
  await page.getByRole('button', { name: 'Create environment' }).click();
  await page.getByRole('button', { name: /^qa/ }).click();
  await page.getByRole('heading', { name: 'Environment qa', exact: true }).waitFor();
  const del = page.getByRole('button', { name: 'Delete environment' });
  assert.ok(await del.isDisabled());
  await page.getByLabel('Type qa to confirm').fill('qa');
  await del.click();
  await page.getByRole('progressbar', { name: 'environment.delete progress' }).waitFor();
  // Without an agent the deletion completes at once: the switcher goes, production shows.
  await page.getByRole('button', { name: /^qa/ }).waitFor({ state: 'detached', timeout: 20_000 });
  await page.getByRole('heading', { name: 'Environment production', exact: true }).waitFor();

  // Jobs: the list with progress bars, then one job live with its log.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
  await page.getByRole('heading', { name: 'Jobs' }).waitFor();
  await page.getByRole('progressbar', { name: /^environment\.delete job_\w+ progress$/ }).waitFor();
  await shot(page, 'jobs');
  await page.getByRole('link', { name: 'site.provision' }).first().click();
  await page.getByRole('heading', { name: /site\.provision/ }).waitFor();
  await page
    .getByRole('log', { name: 'Job log' })
    .getByText(/production (waiting for an app server|placed on)/)
    .waitFor();
  await shot(page, 'job');

  // Audit log: the site creation and both purges, then filtered.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
  await page.getByRole('rowheader', { name: 'site.create' }).first().waitFor();
  assert.equal(await page.getByRole('rowheader', { name: 'environment.purge' }).count(), 2);
  await page.getByLabel('Action', { exact: true }).fill('environment.purge');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('rowheader', { name: 'site.create' }).waitFor({ state: 'detached' });
  assert.equal(await page.getByRole('rowheader', { name: 'environment.purge' }).count(), 2);

  // Servers: none yet; adding one shows its join token once.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Servers' }).click();
  await page.getByText('No servers yet').waitFor();
  await page.getByLabel('Server name').fill('app-1');
  await page.getByRole('button', { name: 'Add server' }).click();
  assert.match(await page.getByLabel('Join token for app-1').inputValue(), /^tpj_/);
  await page.getByRole('link', { name: 'app-1' }).waitFor();
  await shot(page, 'servers');

  // Members: create a user and make them a viewer of the organization.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Members' }).click();
  await page.getByRole('heading', { name: 'Create a user (platform administrators)' }).waitFor();
  const createUser = page.locator('section', { has: page.getByRole('heading', { name: /^Create a user/ }) });
  await createUser.getByLabel('Email').fill(VIEWER_EMAIL);
  await createUser.getByLabel('Name').fill('Vera Viewer');
  await createUser.getByLabel('Password').fill(VIEWER_PASSWORD);
  await createUser.getByRole('button', { name: 'Create user' }).click();
  await page.getByText(`User ${VIEWER_EMAIL} created`).waitFor();
  const addMember = page.locator('section', { has: page.getByRole('heading', { name: 'Add a member' }) });
  await addMember.getByLabel('Email of an existing user').fill(VIEWER_EMAIL);
  await addMember.getByLabel('Role').selectOption('viewer');
  await addMember.getByRole('button', { name: 'Add member' }).click();
  await page.getByRole('row', { name: /Vera Viewer/ }).waitFor();
  assert.equal(await page.getByLabel(`Role of ${VIEWER_EMAIL}`).inputValue(), 'viewer');

  // Tokens: the secret is shown once.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API tokens' }).click();
  await page.getByLabel('Token name').fill('deploy');
  await page.getByRole('button', { name: 'Create token' }).click();
  assert.match(await page.getByLabel('Secret of deploy').inputValue(), /^tpl_/);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();

  // The viewer: sees the sites, every mutating control disabled, and the API refuses anyway.
  await signInByKeyboard(page, VIEWER_EMAIL, VIEWER_PASSWORD);
  await page.getByRole('heading', { name: /^Sites of / }).waitFor();
  await page.getByRole('link', { name: 'shop', exact: true }).waitFor();
  assert.ok(await page.getByRole('button', { name: 'Add site' }).isDisabled());
  let m = await mutatingControls(page);
  assert.ok(m.total > 0);
  assert.deepEqual(m.enabled, []);
  assert.equal(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Servers' }).count(), 0);

  await page.getByRole('link', { name: 'shop', exact: true }).click();
  await page.getByRole('heading', { name: 'Environment production', exact: true }).waitFor();
  await page.getByText('your role: viewer').waitFor();
  m = await mutatingControls(page);
  assert.ok(m.total >= 8, `only ${m.total} mutating controls found`);
  assert.deepEqual(m.enabled, []);
  for (const name of ['Restart', 'Purge', 'Add domain', 'Save PHP settings', 'Delete site']) {
    assert.ok(await page.getByRole('button', { name, exact: true }).isDisabled(), name);
  }

  const firstSite = (await api<{ items: { id: string }[] }>('GET', '/sites')).items[0] as { id: string };
  const site = await api<{ environments: { id: string }[] }>('GET', `/sites/${firstSite.id}`);
  const refused = await page.evaluate(async (id) => {
    const csrf = document.cookie.match(/triplane_csrf=([^;]+)/)?.[1] ?? '';
    const r = await fetch(`/api/v1/environments/${id}/purge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': decodeURIComponent(csrf) },
      body: JSON.stringify({ all: true }),
    });
    return { status: r.status, body: await r.json() };
  }, site.environments[0]?.id as string);
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error.code, 'TRIPLANE_ERR_FORBIDDEN');

  // The audit log needs admin: the page shows the API's refusal, not a blank screen.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
  await page.getByRole('alert').filter({ hasText: 'TRIPLANE_ERR_FORBIDDEN' }).waitFor();

  // A phone-width look at the sites page.
  await page.setViewportSize({ width: 390, height: 800 });
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sites' }).click();
  await page.getByRole('link', { name: 'shop', exact: true }).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px on a phone`);
  await shot(page, 'sites-phone');

  assert.deepEqual(
    consoleErrors.filter((e) => !/status of 40[134]/.test(e)),
    [],
  );
}
