import type { EnvironmentMetrics, MetricsPoint } from '@triplane/spec';
import type { Command } from 'commander';
import { type Flags, intArg, withApi } from '../cli/command.ts';
import { session } from '../cli/context.ts';
import { usageError } from '../cli/exit.ts';
import { fields, line, printJson, table } from '../cli/output.ts';
import { resolveEnvironment } from '../cli/resolve.ts';

const RANGES = ['1h', '24h', '7d'] as const;

/**
 * `triplane env metrics <site> [env] --range 1h`: totals over the range, the last few points
 * (exactly as the API returns them: 10 s, 5 min or 1 h buckets) and the latest CPU/memory of each
 * container. `--json` prints the API's answer (every point).
 */
export function registerEnvMetrics(env: Command): void {
  withApi(
    env
      .command('metrics')
      .description("an environment's traffic, latency, cache, WAF and container series")
      .argument('<site>', 'site name or id (or an environment id)')
      .argument('[env]', 'environment name (default production)', undefined)
      .option('--range <range>', 'time range: 1h (10 s points), 24h (5 min), 7d (1 h)', '1h')
      .option('--points <n>', 'how many of the latest points to show', intArg('--points', 1, 360), 12)
      .option('--org <org>', 'organization (when the site name is not unique)'),
  ).action(async (siteRef: string, envRef: string | undefined, flags: Flags) => {
    const range = flags.range as string;
    if (!(RANGES as readonly string[]).includes(range)) throw usageError('--range: one of 1h, 24h, 7d');
    const s = session(flags);
    const { site, env: e } = await resolveEnvironment(s.client, siteRef, envRef, flags.org as string | undefined);
    const m = await s.client.environments.metrics(e.id, { range: range as (typeof RANGES)[number] });
    if (s.json) return printJson(m);
    printMetrics(m, `${site.name}/${e.name}`, flags.points as number);
  });
}

const num = (v: number | null | undefined, unit = ''): string => (v === null || v === undefined ? '-' : `${v}${unit}`);
const clock = (t: number, step: number) => {
  const iso = new Date(t).toISOString();
  return step >= 3600 ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(11, step < 60 ? 19 : 16);
};
const mib = (b: number | null) => (b === null ? '-' : `${(b / 1048576).toFixed(1)} MiB`);

function printMetrics(m: EnvironmentMetrics, name: string, points: number): void {
  const sum = (k: keyof MetricsPoint) => m.points.reduce((a, p) => a + ((p[k] as number | undefined) ?? 0), 0);
  const total = sum('requests');
  fields([
    ['environment', name],
    ['range', `${m.range} in ${m.step} s points, until ${new Date(m.to).toISOString()}`],
    ['requests', `${total} (${(total / ((m.to - m.from) / 1000)).toFixed(2)}/s)`],
    ['status', `2xx ${sum('s2xx')}, 3xx ${sum('s3xx')}, 4xx ${sum('s4xx')}, 5xx ${sum('s5xx')}, 1xx ${sum('s1xx')}`],
    ['waf blocks', sum('wafBlocks')],
    ['upstream errors', sum('upstreamErrors')],
  ]);
  line();
  table(m.points.slice(-points), [
    ['time (utc)', (p) => clock(p.t, m.step)],
    ['req/s', (p) => num(p.rps)],
    ['2xx', (p) => num(p.s2xx)],
    ['3xx', (p) => num(p.s3xx)],
    ['4xx', (p) => num(p.s4xx)],
    ['5xx', (p) => num(p.s5xx)],
    ['p50 ms', (p) => num(p.p50)],
    ['p95 ms', (p) => num(p.p95)],
    ['p99 ms', (p) => num(p.p99)],
    ['hit', (p) => (p.hitRatio === null || p.hitRatio === undefined ? '-' : `${Math.round(p.hitRatio * 100)}%`)],
    ['waf', (p) => num(p.wafBlocks)],
    ['upstream err', (p) => num(p.upstreamErrors)],
  ]);
  if (m.containers.length === 0) return;
  line();
  table(m.containers, [
    ['container', (c) => c.name],
    ['server', (c) => c.serverId],
    ['cpu (cores)', (c) => num([...c.points].reverse().find((p) => p.cpu !== null)?.cpu)],
    ['memory', (c) => mib([...c.points].reverse().find((p) => p.memBytes !== null)?.memBytes ?? null)],
  ]);
}
