import { createHash } from 'node:crypto';

/**
 * Pure allocation rules for an environment's runtime: its Unix user, its uid slot and one web
 * host port per server. The callers hold the desired-state lock (see lock.ts) while they read
 * what is taken and write what they chose, so two provisioning jobs can't pick the same value.
 */

/** Linux `useradd` caps names at 32 characters. */
export const UNIX_USER_MAX = 32;
/** Host ports for environments' web containers; the edge's upstream members point here. */
export const WEB_PORT_MIN = 20000;
export const WEB_PORT_MAX = 29999;

/**
 * `tp-<site>-<env>` when it fits and is free; otherwise the prefix of it that fits plus a short
 * hash of `salt` (the environment id), longer until free. Example: `tp-shop-production`,
 * `tp-a-very-long-site-name-st-4k9x`.
 */
export function unixUserName(site: string, env: string, taken: ReadonlySet<string>, salt: string): string {
  const base = `tp-${site}-${env}`;
  if (base.length <= UNIX_USER_MAX && !taken.has(base)) return base;
  const hash = createHash('sha256').update(salt).digest('hex');
  for (let n = 4; n <= 24; n++) {
    const head = base.slice(0, UNIX_USER_MAX - n - 1).replace(/-+$/, '');
    const name = `${head}-${hash.slice(0, n)}`;
    if (!taken.has(name)) return name;
  }
  // 24 hex characters of a SHA-256 colliding is not a thing that happens; keep a total function.
  return `tp-${hash.slice(0, UNIX_USER_MAX - 3)}`;
}

export interface PortRange {
  min: number;
  max: number;
}

/**
 * The web ports this control plane hands out: `TRIPLANE_WEB_PORTS=LOW-HIGH`, inside
 * 20000–29999, default the whole of it. For hosts where part of that range is someone
 * else's: Podman publishes a web port with iptables DNAT, which never fails on a port in
 * use — another program listening there would silently stop getting its traffic. (The test
 * suite gives each file that runs pods, or stand-in origins, a range of its own.)
 * Throws a plain Error naming the variable when the value is malformed.
 */
export function webPortRange(env: NodeJS.ProcessEnv = process.env): PortRange {
  const raw = env.TRIPLANE_WEB_PORTS?.trim();
  if (!raw) return { min: WEB_PORT_MIN, max: WEB_PORT_MAX };
  const m = /^(\d{5})-(\d{5})$/.exec(raw);
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  if (!m || min < WEB_PORT_MIN || max > WEB_PORT_MAX || min > max)
    throw new Error(
      `TRIPLANE_WEB_PORTS=${JSON.stringify(raw)}: expected LOW-HIGH within ${WEB_PORT_MIN}-${WEB_PORT_MAX}, e.g. 20000-20999`,
    );
  return { min, max };
}

/** The lowest free port of the range, or undefined when the server has none left. */
export function allocatePort(used: ReadonlySet<number>, range: PortRange = webPortRange()): number | undefined {
  for (let p = range.min; p <= range.max; p++) if (!used.has(p)) return p;
  return undefined;
}

/**
 * Uid slots grow monotonically (highest in use + 1): a slot names a range of host uids that
 * owns files in volumes, so reusing one freed moments ago could hand old files to a new site.
 */
export function nextUidSlot(used: Iterable<number>): number {
  let max = 0;
  for (const s of used) if (s > max) max = s;
  return max + 1;
}
