import { type Command, InvalidArgumentError, Option } from 'commander';
import type { ApiFlags } from './context.ts';
import { usageError } from './exit.ts';

/** The options every verb that talks to the API takes. */
export function withApi(cmd: Command): Command {
  return cmd
    .option('--api <url>', 'API URL (default: $TRIPLANE_API, then the saved login)')
    .addOption(new Option('--token <token>', 'API token (default: $TRIPLANE_TOKEN, then the saved login)'))
    .option('--json', 'print the API object as JSON');
}

export type Flags = ApiFlags & Record<string, unknown>;

/** Repeatable option collector: `--domain a --domain b` → ['a', 'b']. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function intArg(name: string, min: number, max: number): (v: string) => number {
  return (v) => {
    if (!/^-?\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be an integer`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}`);
    return n;
  };
}

/**
 * `--since` as an ISO timestamp or a relative age: `30s`, `15m`, `2h`, `7d`.
 */
export function parseSince(v: string, now = Date.now()): string {
  const m = /^(\d+)([smhd])$/.exec(v);
  if (m) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(m[1]) * unit).toISOString();
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw usageError(`not a time: ${v} (use an ISO timestamp or an age like 15m, 2h, 7d)`);
  return new Date(t).toISOString();
}

/** `--timeout 300` (seconds) → ms. */
export function timeoutMs(flags: Flags): number | undefined {
  const t = flags.timeout as number | undefined;
  return t === undefined ? undefined : t * 1000;
}
