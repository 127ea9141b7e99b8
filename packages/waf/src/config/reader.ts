/**
 * Reads SecLang files into directives the way Apache + ModSecurity 2 does:
 * - a line ending in `\` (trailing whitespace ignored) continues on the next line; the
 *   backslash and newline are dropped, the next line's indentation is kept (ap_cfg_getline);
 * - a line whose first non-blank character is `#` is a comment;
 * - arguments are split like ap_getword_conf: `"…"` or `'…'` quoted, where `\\` reads as `\`
 *   and a backslash before the quote character reads as the quote; unquoted words only
 *   unescape `\\`.
 * - `Include`/`IncludeOptional` take a glob; matches are read in sorted order, relative paths
 *   resolve against the including file's directory.
 * Files are read as latin1 so every byte of a pattern stays one character (see regex/pcre.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { configError, type SourcePos } from '../errors.ts';

export interface Directive extends SourcePos {
  name: string;
  args: string[];
}

export interface ReadOptions {
  /** Rewrites an Include path before it is resolved (e.g. test profile placeholders). */
  rewritePath?: (p: string) => string;
  /** Reads a file as latin1 text; defaults to the filesystem. */
  readFile?: (file: string) => string;
}

const MAX_INCLUDE_DEPTH = 32;

export function readConfigFile(file: string, opts: ReadOptions = {}): Directive[] {
  const out: Directive[] = [];
  readInto(path.resolve(file), opts, out, 0, { file: '<root>', line: 0 });
  return out;
}

export function readConfigText(text: string, file: string, opts: ReadOptions = {}): Directive[] {
  const out: Directive[] = [];
  parseText(text, path.resolve(file), opts, out, 0);
  return out;
}

function readInto(file: string, opts: ReadOptions, out: Directive[], depth: number, from: SourcePos): void {
  if (depth > MAX_INCLUDE_DEPTH) throw configError(from, `Include nesting deeper than ${MAX_INCLUDE_DEPTH} (loop?)`);
  let text: string;
  try {
    text = opts.readFile ? opts.readFile(file) : fs.readFileSync(file, 'latin1');
  } catch (e) {
    throw configError(from, `cannot read ${file}: ${(e as Error).message}`);
  }
  parseText(text, file, opts, out, depth);
}

function parseText(text: string, file: string, opts: ReadOptions, out: Directive[], depth: number): void {
  const lines = text.split('\n');
  let i = 0;
  while (i < lines.length) {
    const startLine = i + 1;
    let logical = '';
    for (;;) {
      let l = lines[i++] ?? '';
      if (l.endsWith('\r')) l = l.slice(0, -1);
      const trimmed = l.replace(/[ \t\r\f\v]+$/, '');
      if (trimmed.endsWith('\\') && i < lines.length) {
        logical += trimmed.slice(0, -1);
        continue;
      }
      logical += l;
      break;
    }
    const body = logical.replace(/^[ \t\f\v]+/, '');
    if (body === '' || body.startsWith('#')) continue;
    const pos = { file, line: startLine };
    const words = splitWords(body, pos);
    const name = words.shift()!;
    const lname = name.toLowerCase();
    if (lname === 'include' || lname === 'includeoptional') {
      if (words.length !== 1) throw configError(pos, `${name} takes exactly one path`);
      includeGlob(words[0]!, lname === 'includeoptional', file, pos, opts, out, depth);
      continue;
    }
    out.push({ name, args: words, file, line: startLine });
  }
}

function includeGlob(
  pattern: string,
  optional: boolean,
  fromFile: string,
  pos: SourcePos,
  opts: ReadOptions,
  out: Directive[],
  depth: number,
): void {
  const rewritten = opts.rewritePath ? opts.rewritePath(pattern) : pattern;
  const abs = path.resolve(path.dirname(fromFile), rewritten);
  let files: string[];
  if (/[*?[]/.test(abs)) {
    files = fs.globSync(abs).sort();
    if (files.length === 0 && !optional) throw configError(pos, `Include ${pattern}: no file matches`);
  } else {
    if (!fs.existsSync(abs)) {
      if (optional) return;
      throw configError(pos, `Include ${pattern}: file not found (${abs})`);
    }
    files = [abs];
  }
  for (const f of files) readInto(f, opts, out, depth + 1, pos);
}

/** ap_getword_conf + substring_conf. */
export function splitWords(s: string, pos: SourcePos): string[] {
  const words: string[] = [];
  let i = 0;
  const n = s.length;
  while (i < n) {
    while (i < n && isSpace(s.charCodeAt(i))) i++;
    if (i >= n) break;
    const c = s[i];
    if (c === '"' || c === "'") {
      const q = c;
      let j = i + 1;
      let w = '';
      for (;;) {
        if (j >= n) throw configError(pos, `unterminated ${q === '"' ? 'double' : 'single'}-quoted argument`);
        const ch = s[j]!;
        if (ch === '\\' && (s[j + 1] === q || s[j + 1] === '\\')) {
          w += s[j + 1];
          j += 2;
          continue;
        }
        if (ch === q) break;
        w += ch;
        j++;
      }
      words.push(w);
      i = j + 1;
    } else {
      let j = i;
      let w = '';
      while (j < n && !isSpace(s.charCodeAt(j))) {
        if (s[j] === '\\' && s[j + 1] === '\\') {
          w += '\\';
          j += 2;
          continue;
        }
        w += s[j];
        j++;
      }
      words.push(w);
      i = j;
    }
  }
  return words;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;
}
