import path from 'node:path';
import { pmLiterals, pmMatcher } from './pm.ts';
import type { CompileContext, Operator } from './types.ts';

/** Phrases from files (one per line, `#` comments); paths relative to the rule's file. */
export function readPhraseFiles(param: string, ctx: CompileContext): string[] {
  const words: string[] = [];
  for (const f of param.split(/[ \t]+/).filter((x) => x !== '')) {
    const text = ctx.readFile(path.resolve(ctx.dir, f));
    for (let line of text.split('\n')) {
      line = line.replace(/\r$/, '').trim();
      if (line === '' || line.startsWith('#')) continue;
      words.push(line);
    }
  }
  return words;
}

export const pmFromFile: Operator = {
  name: 'pmFromFile',
  compile: (param, ctx) => pmMatcher(readPhraseFiles(param, ctx)),
  literals: (param, ctx) => pmLiterals(readPhraseFiles(param, ctx)),
};
export const pmf: Operator = { ...pmFromFile, name: 'pmf' };
