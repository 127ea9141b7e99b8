import { type Clock, type Logger, silentLogger, systemClock } from '@triplane/kernel';
import { http } from '@triplane/runtime/integration/http';
import { installWordPress } from '@triplane/runtime/integration/wp-install';
import type { AssignedEnvironment, InstallIntent } from '@triplane/spec';
import type { EnvironmentReport } from '../reconcile/engine.ts';

/**
 * WordPress chores the agent does for running WordPress/WooCommerce environments:
 *
 *   install  when the assignment carries a one-time install intent and the environment is
 *            `running`: POST /wp-admin/install.php?step=2 (idempotent — an installed site
 *            answers "Already Installed", which counts as installed). Failures retry with
 *            exponential backoff. The result is reported as `installed: true` in the status
 *            report; the control plane then drops the intent (and the password with it).
 *   cron     every `cronEveryMs` (60 s): GET /wp-cron.php?doing_wp_cron=<ts> on each running
 *            WordPress environment (the php image sets DISABLE_WP_CRON, so visitors never
 *            run it). One request at a time per environment.
 *
 * The decisions are pure (`planWordPressWork`, tested with a FakeClock); `WordPressTasks`
 * runs them after each reconcile pass. The admin password is never logged.
 *
 * Example:
 *   const wp = new WordPressTasks({ webHostIp: '127.0.0.1', onChange: () => runner.wake() });
 *   wp.tick(desired, reconciler.report());  link.setReport(wp.decorate(reconciler.report()));
 */
export const WORDPRESS_KINDS: ReadonlySet<string> = new Set(['wordpress', 'woocommerce']);
export const CRON_EVERY_MS = 60_000;

export interface WordPressState {
  /** environment ids known installed (since this agent started) */
  installed: ReadonlySet<string>;
  /** ids with an install or cron request in flight */
  installing: ReadonlySet<string>;
  cronRunning: ReadonlySet<string>;
  /** epoch ms of the last cron request started, per id */
  lastCron: ReadonlyMap<string, number>;
  /** epoch ms before which a failed install is not retried, per id */
  installNotBefore: ReadonlyMap<string, number>;
}

export interface WordPressWork {
  install: string[];
  cron: string[];
}

/** What to start now (pure). Only environments assigned here, WordPress kinds, reported `running`. */
export function planWordPressWork(i: {
  desired: readonly AssignedEnvironment[];
  report: readonly EnvironmentReport[] | null;
  state: WordPressState;
  now: number;
  cronEveryMs?: number;
}): WordPressWork {
  const every = i.cronEveryMs ?? CRON_EVERY_MS;
  const running = new Set((i.report ?? []).filter((r) => r.status === 'running').map((r) => r.id));
  const out: WordPressWork = { install: [], cron: [] };
  for (const e of i.desired) {
    if (!WORDPRESS_KINDS.has(e.kind) || e.desiredState !== 'running' || !running.has(e.id)) continue;
    const s = i.state;
    if (e.install && !s.installed.has(e.id) && !s.installing.has(e.id) && (s.installNotBefore.get(e.id) ?? 0) <= i.now) {
      out.install.push(e.id);
    }
    const last = s.lastCron.get(e.id);
    // The first cron run of an environment waits one period after it is first seen running.
    if (last === undefined) continue;
    if (!s.cronRunning.has(e.id) && i.now - last >= every) out.cron.push(e.id);
  }
  return out;
}

export interface HttpResult {
  status: number;
  body: string;
}

export interface WordPressTasksOptions {
  webHostIp?: string | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
  cronEveryMs?: number | undefined;
  /** Called when an install finished (so a new report goes out at once). */
  onChange?: (() => void) | undefined;
  /** Default: the runtime's installWordPress. */
  install?: ((base: string, intent: InstallIntent, headers: Record<string, string>) => Promise<HttpResult>) | undefined;
  /** Default: an HTTP GET. */
  get?: ((url: string, headers: Record<string, string>) => Promise<HttpResult>) | undefined;
}

const INSTALL_BACKOFF_MS = [2000, 4000, 8000, 16_000, 30_000];

function defaultInstall(base: string, intent: InstallIntent, headers: Record<string, string>): Promise<HttpResult> {
  return installWordPress(base, {
    title: intent.title,
    user: intent.adminUser,
    password: intent.adminPassword,
    email: intent.adminEmail,
    headers,
  });
}

function defaultGet(url: string, headers: Record<string, string>): Promise<HttpResult> {
  return http(url, { headers, timeoutMs: 60_000 });
}

/**
 * The Host header WordPress should see: the intent's URL host, else the primary domain, else none;
 * for an https URL also `X-Forwarded-Proto: https`, as the edge sends it (the web image turns it into
 * HTTPS=on), so WordPress stores https:// as its address.
 */
function hostHeader(e: AssignedEnvironment): Record<string, string> {
  if (e.install?.url) {
    try {
      const u = new URL(e.install.url);
      return u.protocol === 'https:' ? { host: u.host, 'x-forwarded-proto': 'https' } : { host: u.host };
    } catch {
      // an unparsable URL: fall through
    }
  }
  return e.domains[0] ? { host: e.domains[0] } : {};
}

export class WordPressTasks {
  readonly #o: WordPressTasksOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #installed = new Set<string>();
  readonly #installing = new Set<string>();
  readonly #cronRunning = new Set<string>();
  readonly #lastCron = new Map<string, number>();
  readonly #notBefore = new Map<string, number>();
  readonly #failures = new Map<string, number>();
  readonly #pending = new Set<Promise<void>>();

  constructor(o: WordPressTasksOptions = {}) {
    this.#o = o;
    this.#clock = o.clock ?? systemClock;
    this.#log = o.logger ?? silentLogger();
  }

  state(): WordPressState {
    return {
      installed: this.#installed,
      installing: this.#installing,
      cronRunning: this.#cronRunning,
      lastCron: this.#lastCron,
      installNotBefore: this.#notBefore,
    };
  }

  /** After a reconcile pass: start the installs and cron runs that are due (not awaited). */
  tick(desired: readonly AssignedEnvironment[] | null, report: readonly EnvironmentReport[] | null): WordPressWork {
    if (desired === null) return { install: [], cron: [] };
    const now = this.#clock.now();
    const ids = new Set(desired.map((e) => e.id));
    for (const m of [this.#lastCron, this.#notBefore, this.#failures])
      for (const id of [...m.keys()]) if (!ids.has(id)) m.delete(id);
    for (const id of [...this.#installed]) if (!ids.has(id)) this.#installed.delete(id);
    const running = new Set((report ?? []).filter((r) => r.status === 'running').map((r) => r.id));
    for (const e of desired)
      if (WORDPRESS_KINDS.has(e.kind) && running.has(e.id) && !this.#lastCron.has(e.id)) this.#lastCron.set(e.id, now);
    const work = planWordPressWork({ desired, report, state: this.state(), now, cronEveryMs: this.#o.cronEveryMs });
    const byId = new Map(desired.map((e) => [e.id, e]));
    for (const id of work.install) this.#track(this.#install(byId.get(id) as AssignedEnvironment));
    for (const id of work.cron) this.#track(this.#cron(byId.get(id) as AssignedEnvironment, now));
    return work;
  }

  /** The report with `installed: true` on the environments installed here. */
  decorate(report: EnvironmentReport[] | null): EnvironmentReport[] | null {
    if (report === null) return null;
    return report.map((r) => (this.#installed.has(r.id) ? { ...r, installed: true } : r));
  }

  /** Wait for the requests in flight (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  #track(p: Promise<void>): void {
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  #base(e: AssignedEnvironment): string {
    const ip = this.#o.webHostIp && this.#o.webHostIp !== '0.0.0.0' ? this.#o.webHostIp : '127.0.0.1';
    return `http://${ip}:${e.runtime.webPort}`;
  }

  async #install(e: AssignedEnvironment): Promise<void> {
    const intent = e.install as InstallIntent;
    this.#installing.add(e.id);
    const t0 = this.#clock.now();
    try {
      const r = await (this.#o.install ?? defaultInstall)(this.#base(e), intent, hostHeader(e));
      if (r.status === 200 && /Success!|Already Installed/i.test(r.body)) {
        this.#installed.add(e.id);
        this.#failures.delete(e.id);
        this.#notBefore.delete(e.id);
        this.#log.info({ environmentId: e.id, ms: this.#clock.now() - t0, adminUser: intent.adminUser }, 'WordPress installed');
        this.#o.onChange?.();
        return;
      }
      throw new Error(`install.php answered HTTP ${r.status}`);
    } catch (err) {
      const n = (this.#failures.get(e.id) ?? 0) + 1;
      this.#failures.set(e.id, n);
      const delay = INSTALL_BACKOFF_MS[Math.min(n - 1, INSTALL_BACKOFF_MS.length - 1)] as number;
      this.#notBefore.set(e.id, this.#clock.now() + delay);
      this.#log.warn(
        { environmentId: e.id, err: err instanceof Error ? err.message : String(err), retryInMs: delay },
        'WordPress install failed',
      );
    } finally {
      this.#installing.delete(e.id);
    }
  }

  async #cron(e: AssignedEnvironment, now: number): Promise<void> {
    this.#cronRunning.add(e.id);
    this.#lastCron.set(e.id, now);
    try {
      const r = await (this.#o.get ?? defaultGet)(
        `${this.#base(e)}/wp-cron.php?doing_wp_cron=${(now / 1000).toFixed(4)}`,
        hostHeader(e),
      );
      if (r.status >= 500) this.#log.warn({ environmentId: e.id, status: r.status }, 'wp-cron failed');
    } catch (err) {
      this.#log.warn({ environmentId: e.id, err: err instanceof Error ? err.message : String(err) }, 'wp-cron failed');
    } finally {
      this.#cronRunning.delete(e.id);
    }
  }
}
