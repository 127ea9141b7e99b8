import { first, joined } from './headers.ts';
import type { PurgeCommand, RecvDecision } from './profile.ts';
import type { CacheRequest } from './request.ts';

/** Longest regex a purge may carry: patterns are attacker-controlled if the ACL is wrong. */
export const MAX_PURGE_PATTERN = 2048;

/**
 * PURGE/BAN as the purge plugins send them (spec §3.4), ACL'd, handled locally, never forwarded:
 * - `X-Cache-Tags: a,b` (or `Surrogate-Key`) → tag purge;
 * - `X-Purge-Method: regex` → host-scoped regex on the URL (`PURGE /.*` = whole host);
 * - otherwise → that exact URL (all variants) of that Host.
 * Not in the ACL → 405 (Varnish/Magento convention).
 */
export function purgeDecision(req: CacheRequest): RecvDecision {
  if (!req.purgeAllowed) return { action: 'synth', status: 405, reason: 'purge not allowed' };
  return { action: 'purge', command: purgeCommand(req) };
}

export function purgeCommand(req: CacheRequest): PurgeCommand {
  const tagHeader = joined(req.headers['x-cache-tags']) ?? joined(req.headers['surrogate-key']);
  if (tagHeader !== undefined) {
    return {
      kind: 'tags',
      tags: tagHeader
        .split(/[\s,]+/)
        .map((t) => t.trim())
        .filter(Boolean),
    };
  }
  const method = (first(req.headers['x-purge-method']) ?? 'default').toLowerCase();
  if (method === 'regex') {
    if (req.url === '/.*' || req.url === '.*') return { kind: 'host', host: req.host };
    return { kind: 'host-regex', host: req.host, pattern: req.url };
  }
  return { kind: 'url', host: req.host, url: req.url };
}
