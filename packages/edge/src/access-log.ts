import type { Logger } from '@triplane/kernel';

/** One JSON line per request (msg "access"). Never contains Cookie/Authorization values. */
export interface AccessEntry {
  /** The request id (`X-Request-Id`, WAF `unique_id`); absent on fast-path hits and parser rejections. */
  id?: string;
  site: string | undefined;
  method: string;
  host: string | undefined;
  url: string;
  status: number;
  cache: string;
  upstream: string | undefined;
  attempts: number;
  ip: string | undefined;
  bytesIn: number;
  bytesOut: number;
  /** Total time, and time to upstream response headers, in ms. */
  ms: number;
  upstreamMs: number | undefined;
  /** User-Agent as sent (a reference, not copied; truncated when shipped: logs-push.ts). Absent on fast-path hits. */
  ua?: string | undefined;
  /** Why no upstream answered (`connect`, `first-byte-timeout`, `no-member`, …); absent when one did. */
  upstreamError?: string | undefined;
}

export function logAccess(logger: Logger, e: AccessEntry): void {
  logger.info({ access: e }, 'access');
}
