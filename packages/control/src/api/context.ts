import type { Clock, Logger } from '@triplane/kernel';
import type { Registry } from 'prom-client';
import type { Store } from '../store/store.ts';
import type { MembershipGrant, Principal } from './auth/principal.ts';

export interface AppOptions {
  store: Store;
  logger?: Logger;
  clock?: Clock;
  /** Largest accepted request body, bytes. */
  bodyLimit?: number;
  /** Session cookies get the Secure flag (on whenever the API is reached over TLS). */
  secureCookies?: boolean;
  /** Longest a long-poll watch may hold a request, ms. */
  maxWatchMs?: number;
  /** Login attempts allowed per window per (ip, email) and per ip. */
  loginRateLimit?: { perKey: number; perIp: number; windowMs: number };
  /** Serve the dashboard's production build (apps/dashboard/dist) from this directory at `/`. */
  dashboardDir?: string;
  /**
   * Where job artifacts (backup downloads) are kept for 24 h (default `<os tmpdir>/triplane-artifacts`;
   * `triplane control` uses `<data dir>/artifacts`). Replicas of the API must share it.
   */
  artifactsDir?: string;
  /** Largest artifact an agent may upload, bytes (default 50 GiB). */
  artifactMaxBytes?: number;
}

export interface AppContext {
  store: Store;
  clock: Clock;
  metrics: Registry;
  options: Required<Pick<AppOptions, 'bodyLimit' | 'secureCookies' | 'maxWatchMs' | 'loginRateLimit'>>;
  artifacts: { dir: string; maxBytes: number };
}

declare module 'fastify' {
  interface FastifyInstance {
    ctx: AppContext;
  }
  interface FastifyRequest {
    principal: Principal;
    /** Memberships of the calling user, loaded once per request on first use. */
    grantsCache?: MembershipGrant[];
  }
}
