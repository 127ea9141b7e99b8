/**
 * application/x-www-form-urlencoded and query strings, as ModSecurity 2's parse_arguments:
 * split on the separator, name up to the first `=`, both URL-decoded non-strictly (a bad `%`
 * escape stays as is and is counted in `invalid`). A pair without `=` is a name with an empty
 * value; empty pairs are skipped.
 */
import { urlDecodeNonStrict } from '../transformations/url-decode.ts';
import type { Arg } from './types.ts';

export interface UrlEncodedResult {
  args: Arg[];
  /** number of invalid %-escapes seen */
  invalid: number;
  /** the argument limit cut the list */
  truncated: boolean;
}

const BAD_ESCAPE = /%(?![0-9a-fA-F]{2})/g;

export function parseUrlEncoded(s: string, separator = '&', limit = Number.POSITIVE_INFINITY): UrlEncodedResult {
  const args: Arg[] = [];
  let invalid = 0;
  let truncated = false;
  if (s === '') return { args, invalid, truncated };
  for (const pair of s.split(separator)) {
    if (pair === '') continue;
    if (args.length >= limit) {
      truncated = true;
      break;
    }
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const rawValue = eq < 0 ? '' : pair.slice(eq + 1);
    if (rawName.includes('%')) invalid += (rawName.match(BAD_ESCAPE) ?? []).length;
    if (rawValue.includes('%')) invalid += (rawValue.match(BAD_ESCAPE) ?? []).length;
    args.push({ name: urlDecodeNonStrict(rawName), value: urlDecodeNonStrict(rawValue) });
  }
  return { args, invalid, truncated };
}
