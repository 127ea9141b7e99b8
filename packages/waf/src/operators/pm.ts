import { AhoCorasick } from './aho-corasick.ts';
import type { Operator, OperatorFn } from './types.ts';

/** Case-insensitive phrase match; the phrase found becomes TX.0 when the rule captures. */
export function pmMatcher(words: readonly string[]): OperatorFn {
  const ac = new AhoCorasick(words);
  return (input, tx) => {
    const m = ac.search(input);
    if (m === undefined) return false;
    if (tx.capturing) tx.setCaptures([m]);
    return true;
  };
}

export function pmLiterals(words: readonly string[]): string[] | undefined {
  const w = words.filter((x) => x !== '').map((x) => x.toLowerCase());
  return w.length > 0 ? w : undefined;
}

export const pm: Operator = {
  name: 'pm',
  literals: (param) => pmLiterals(param.split(/[ \t]+/)),
  compile: (param) => pmMatcher(param.split(/[ \t]+/).filter((w) => w !== '')),
};
