/**
 * The replacement rules a WordPress URL change needs: every form in which WordPress, its
 * editors and plugins store a site URL.
 *
 * For old `https://old.example` and new `https://new.example` (H = host + path of old):
 *   https://H, http://H                  → https://new.example          (new scheme for both)
 *   https:\/\/H, http:\/\/H              → https:\/\/new.example        (JSON: block attrs, Elementor, REST caches)
 *   https%3A%2F%2FH, http%3A%2F%2FH       → https%3A%2F%2Fnew.example    (URL-encoded, both hex cases)
 *   //H, \/\/H, %2F%2FH                   → //new.example, …             (protocol-relative)
 * A path in the old URL (`https://old.example/blog`) is part of H, with `/` written as `\/`
 * in JSON and `%2F` when URL-encoded.
 *
 * Host boundary (decision): every rule ends with the 'host' boundary of replacer.ts — the
 * next byte must not continue a host name or path segment: not [A-Za-z0-9_-], and not a
 * '.' followed by [A-Za-z0-9-]. So `old.example.com`, `old.examples` and `/blogger` (for
 * old path `/blog`) are left alone while `old.example/`, `old.example"`, `old.example:8080`,
 * `old.example?`, `old.example#`, `old.example\/`, `old.example%2F`, `old.example.` at a
 * sentence end and the end of the value are replaced.
 *
 * Not replaced on purpose: the bare host without `//` (e-mail addresses like
 * admin@old.example stay valid mailboxes; siteurl/home carry the scheme form), other hosts
 * such as www.old.example (pass extra pairs), and upper-case schemes. Matching is
 * case-sensitive, like wp-cli.
 */
import { TriplaneError } from '@triplane/kernel';
import type { ReplaceRule } from './replacer.ts';

interface SiteUrl {
  scheme: 'http' | 'https';
  /** host[:port] + path without trailing slash, e.g. `old.example` or `old.example/blog` */
  hostPath: string;
}

function parseSiteUrl(raw: string, which: string): SiteUrl {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new TriplaneError('TRIPLANE_ERR_VALIDATION', `${which} URL is not a valid URL`, { url: raw });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new TriplaneError('TRIPLANE_ERR_VALIDATION', `${which} URL must be http or https`, { url: raw });
  }
  if (u.username || u.password || u.search || u.hash) {
    throw new TriplaneError('TRIPLANE_ERR_VALIDATION', `${which} URL must be a site URL without credentials, query or fragment`, {
      url: raw,
    });
  }
  const path = u.pathname.replace(/\/+$/, '');
  return { scheme: u.protocol === 'https:' ? 'https' : 'http', hostPath: u.host + path };
}

const json = (hp: string) => hp.replaceAll('/', '\\/');
const enc = (hp: string) => hp.split('/').map(encodeURIComponent).join('%2F');

/**
 * Rules to move a site from `oldUrl` to `newUrl` (e.g. `https://www.shop.example`,
 * `https://staging.shop.example`). Feed them to compileReplacer / replaceInPhpValue /
 * createDumpRewriter.
 */
export function urlReplaceRules(oldUrl: string, newUrl: string): ReplaceRule[] {
  const o = parseSiteUrl(oldUrl, 'old');
  const n = parseSiteUrl(newUrl, 'new');
  const H = o.hostPath;
  const N = n.hostPath;
  const ns = n.scheme;
  const pairs: Array<[string, string]> = [];
  for (const scheme of ['https', 'http']) {
    pairs.push([`${scheme}://${H}`, `${ns}://${N}`]);
    pairs.push([`${scheme}:\\/\\/${json(H)}`, `${ns}:\\/\\/${json(N)}`]);
    pairs.push([`${scheme}%3A%2F%2F${enc(H)}`, `${ns}%3A%2F%2F${enc(N)}`]);
    pairs.push([`${scheme}%3a%2f%2f${enc(H).replaceAll('%2F', '%2f')}`, `${ns}%3a%2f%2f${enc(N).replaceAll('%2F', '%2f')}`]);
  }
  pairs.push([`//${H}`, `//${N}`]);
  pairs.push([`\\/\\/${json(H)}`, `\\/\\/${json(N)}`]);
  pairs.push([`%2F%2F${enc(H)}`, `%2F%2F${enc(N)}`]);
  pairs.push([`%2f%2f${enc(H).replaceAll('%2F', '%2f')}`, `%2f%2f${enc(N).replaceAll('%2F', '%2f')}`]);
  const seen = new Set<string>();
  const rules: ReplaceRule[] = [];
  for (const [from, to] of pairs) {
    if (seen.has(from)) continue;
    seen.add(from);
    rules.push({ from, to, boundary: 'host' });
  }
  return rules;
}
