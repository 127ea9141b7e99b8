import { createSecureContext, type SecureContext } from 'node:tls';
import type { EdgeConfig } from '../config.ts';
import type { PlatformCa } from './ca.ts';

/**
 * Hostname → TLS certificate for one compiled config. A new store is built on every reload and
 * swapped in with the config, so new handshakes see the new certificates while established
 * connections keep the ones they negotiated.
 *
 * Lookup for an SNI name (lower-cased, trailing dot removed):
 *   1. a configured certificate for that exact name (the site's hosts, then the cert's SAN names)
 *   2. a configured wildcard certificate `*.parent` (one label, RFC 6125 §6.4.3)
 *   3. a platform-CA leaf, when the name is a configured site host or redirect host
 *   4. the fallback certificate (`triplane-edge.invalid`): never a certificate naming another site
 *
 * Example:
 *   const store = CertStore.build(config, ca, fallbackContext);
 *   tls.createServer({ SNICallback: (name, cb) => store.sni(name, cb) });
 */
export class CertStore {
  readonly #exact = new Map<string, SecureContext>();
  readonly #wildcard = new Map<string, SecureContext>();
  readonly #platform = new Set<string>();
  readonly #ca: PlatformCa;
  readonly fallback: SecureContext;

  private constructor(ca: PlatformCa, fallback: SecureContext) {
    this.#ca = ca;
    this.fallback = fallback;
  }

  /** Certificates were validated by loadConfig; a context build failing here is a fault. */
  static build(config: EdgeConfig, ca: PlatformCa, fallback: SecureContext): CertStore {
    const s = new CertStore(ca, fallback);
    const san: [string, SecureContext][] = [];
    for (const site of config.sites) {
      if (!site.tls) continue;
      const ctx = createSecureContext({ cert: site.tls.certPem, key: site.tls.keyPem });
      // a site's own hosts win over names another site's certificate happens to cover
      for (const h of site.hosts) if (h !== '*' && !s.#exact.has(h)) s.#exact.set(h, ctx);
      for (const n of site.tls.names) san.push([n, ctx]);
    }
    for (const [n, ctx] of san) {
      if (n.startsWith('*.')) {
        if (!s.#wildcard.has(n.slice(2))) s.#wildcard.set(n.slice(2), ctx);
      } else if (!s.#exact.has(n)) s.#exact.set(n, ctx);
    }
    for (const site of config.sites) for (const h of site.hosts) if (h !== '*') s.#platform.add(h);
    for (const r of config.redirects) s.#platform.add(r.host);
    return s;
  }

  /** The context for `servername`, or a promise when a platform leaf must be issued first. */
  lookup(servername: string): SecureContext | Promise<SecureContext> {
    const name = servername.toLowerCase().replace(/\.$/, '');
    const exact = this.#exact.get(name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    const wild = dot > 0 ? this.#wildcard.get(name.slice(dot + 1)) : undefined;
    if (wild) return wild;
    if (this.#platform.has(name)) return this.#ca.readyContext(name) ?? this.#ca.leafContext(name);
    return this.fallback;
  }

  /** Node's SNICallback. */
  sni(servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void {
    let r: SecureContext | Promise<SecureContext>;
    try {
      r = this.lookup(servername);
    } catch (e) {
      cb(e as Error);
      return;
    }
    if (r instanceof Promise)
      r.then(
        (ctx) => cb(null, ctx),
        (e: Error) => cb(e),
      );
    else cb(null, r);
  }

  /** Issues the platform leaves of every configured host in the background (first handshakes then wait less). */
  async warm(): Promise<void> {
    for (const h of this.#platform) {
      const r = this.lookup(h);
      if (r instanceof Promise) await r.catch(() => undefined);
    }
  }
}
