import type { HeaderMap } from './headers.ts';
import { type Profile, type ProfileOptions, type RecvDecision, registerProfile } from './profile.ts';
import { purgeDecision } from './purge-request.ts';
import { type CacheRequest, pathOf } from './request.ts';
import { builtinVerdict } from './ttl.ts';

/** Methods Varnish's builtin passes (everything else non-RFC is piped; we pass instead, never pipe). */
const LOOKUP_METHODS = new Set(['GET', 'HEAD']);

/**
 * The steps every profile shares before its own rules (spec §1.1): PRI → 405, PURGE/BAN →
 * local purge, anything but GET/HEAD → pass, Authorization → pass (also a [SEC] deviation for
 * Magento, §2.10). Returns undefined when the request may be looked up.
 */
export function commonRecv(req: CacheRequest): RecvDecision | undefined {
  if (req.method === 'PRI') return { action: 'synth', status: 405, reason: 'PRI' };
  if (req.method === 'PURGE' || req.method === 'BAN') return purgeDecision(req);
  if (!LOOKUP_METHODS.has(req.method)) return { action: 'pass', headers: req.headers, reason: 'method' };
  if (req.headers.authorization !== undefined) return { action: 'pass', headers: req.headers, reason: 'authorization' };
  return undefined;
}

export function bypassPath(path: string, prefixes: readonly string[] | undefined): boolean {
  return (prefixes ?? []).some((p) => p && path.startsWith(p));
}

/** Varnish 7.1 builtin.vcl (spec §1). */
export function genericProfile(opts: ProfileOptions = {}): Profile {
  return {
    name: 'generic',
    recv(req) {
      const common = commonRecv(req);
      if (common) return common;
      if (req.headers.cookie !== undefined) return { action: 'pass', headers: req.headers, reason: 'cookie' };
      if (bypassPath(pathOf(req.url), opts.bypassPaths)) return { action: 'pass', headers: req.headers, reason: 'path' };
      const headers: HeaderMap = req.headers;
      return { action: 'hash', url: req.url, headers };
    },
    backendResponse(_req, _d, _status, headers, life) {
      return builtinVerdict(headers, life, true);
    },
  };
}

registerProfile('generic', genericProfile);
