import type { LogKind, LogLine, LogSource } from '@triplane/spec';
import type { Command } from 'commander';
import { type Flags, intArg, withApi } from '../cli/command.ts';
import { session } from '../cli/context.ts';
import { usageError } from '../cli/exit.ts';
import { line, note, printJson } from '../cli/output.ts';
import { resolveEnvironment } from '../cli/resolve.ts';

const KINDS = ['access', 'error'] as const;
const SOURCES = ['edge', 'nginx', 'php'] as const;

/** One log line as text: time, status, request, timing, cache, WAF; error lines with their message (site ones with their source). */
export function formatLogLine(l: LogLine): string {
  const target = `${l.host ?? '-'}${l.path ?? ''}`;
  if (l.source === 'nginx' || l.source === 'php')
    return `${l.at} ${l.source.toUpperCase()} ${l.method ?? '-'} ${target} ${l.message ?? ''}`.trimEnd();
  if (l.kind === 'error') return `${l.at} ERROR ${l.status ?? '-'} ${l.method ?? '-'} ${target} ${l.message ?? ''}`.trimEnd();
  const parts = [
    l.at,
    String(l.status ?? '-'),
    l.method ?? '-',
    target,
    l.ms === undefined ? '-' : `${l.ms}ms`,
    l.bytes === undefined ? '-' : `${l.bytes}B`,
    l.cache ?? '-',
    l.ip ?? '-',
    JSON.stringify(l.ua ?? ''),
  ];
  if (l.waf) parts.push(`waf=${l.waf}`);
  if (l.requestId) parts.push(`id=${l.requestId}`);
  return parts.join(' ');
}

/**
 * `triplane env logs <site> [env]`: the environment's access and error lines of the last 24 h
 * (oldest of the page first, so the newest is at the bottom, as `tail` does), with `--follow` the
 * live stream after them until Ctrl-C. `--json`: the API's page, or one JSON line per log line
 * when following.
 */
export function registerEnvLogs(program: Command): void {
  const env = program.commands.find((c) => c.name() === 'env');
  if (!env) throw new Error('registerEnvLogs needs the env command (registerEnv first)');
  withApi(
    env
      .command('logs')
      .description("an environment's access and error log, with its nginx and PHP errors (last 24 h), or follow it live")
      .argument('<site>', 'site name or id (or an environment id)')
      .argument('[env]', 'environment name (default production)', undefined)
      .option('-f, --follow', 'keep printing new lines as they arrive (Ctrl-C stops)')
      .option('--kind <kind>', 'access or error')
      .option('--source <source>', "edge, nginx or php (the site's own nginx and PHP error logs)")
      .option('--status <status>', 'a status class (5xx) or a status (404)')
      .option('--q <text>', 'substring of the path, user agent or message (case-insensitive)')
      .option('--since <time>', 'from this long ago (15m, 1h, 1d) or an ISO timestamp')
      .option('--until <time>', 'until this long ago or an ISO timestamp')
      .option('--limit <n>', 'lines to show (before following)', intArg('--limit', 1, 1000))
      .option('--org <org>', 'organization (when the site name is not unique)'),
  ).action(async (siteRef: string, envRef: string | undefined, flags: Flags) => {
    const kind = flags.kind as string | undefined;
    if (kind !== undefined && !(KINDS as readonly string[]).includes(kind)) throw usageError('--kind: access or error');
    const source = flags.source as string | undefined;
    if (source !== undefined && !(SOURCES as readonly string[]).includes(source))
      throw usageError('--source: edge, nginx or php');
    const status = flags.status as string | undefined;
    if (status !== undefined && !/^([1-5]xx|[0-9]{3})$/.test(status))
      throw usageError('--status: a class (5xx) or a status (404)');
    for (const f of ['since', 'until'] as const) {
      const v = flags[f] as string | undefined;
      if (v !== undefined && !/^\d{1,6}[smhd]$/.test(v) && Number.isNaN(Date.parse(v)))
        throw usageError(`--${f}: an age like 15m, 1h, 1d or an ISO timestamp`);
    }
    const s = session(flags);
    const { env: e } = await resolveEnvironment(s.client, siteRef, envRef, flags.org as string | undefined);
    const filters = {
      kind: kind as LogKind | undefined,
      source: source as LogSource | undefined,
      status,
      q: flags.q as string | undefined,
    };
    const page = await s.client.environments.logs(e.id, {
      ...filters,
      since: flags.since as string | undefined,
      until: flags.until as string | undefined,
      limit: (flags.limit as number | undefined) ?? (flags.follow ? 20 : 100),
    });
    const print = (l: LogLine) => (s.json ? line(JSON.stringify(l)) : line(formatLogLine(l)));
    if (!flags.follow) {
      if (s.json) return printJson(page);
      for (const l of [...page.items].reverse()) print(l);
      return;
    }
    for (const l of [...page.items].reverse()) print(l);
    const ctl = new AbortController();
    const stop = () => ctl.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      await s.client.environments.followLogs(e.id, print, {
        ...filters,
        after: page.items[0]?.id,
        signal: ctl.signal,
        onDropped: (n) => note(`(${n} lines skipped: the terminal could not keep up)`),
      });
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  });
}
