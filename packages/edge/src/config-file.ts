import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isTriplaneError, TriplaneError } from '@triplane/kernel';
import { type EdgeConfig, loadConfig } from './config.ts';

/** A field path into a config document: `['sites', 0, 'upstreams', 1]`. */
export type FieldPath = readonly (string | number)[];

/**
 * A parsed config file: its value, and where a field is. `lineOf` answers the 1-based line of the
 * field at a path, or of its nearest ancestor present in the file (a missing required field points
 * at the object it is missing from).
 */
export interface ParsedConfig {
  value: unknown;
  lineOf(path: FieldPath): number | undefined;
}

/** A syntax error at a line (thrown by parsers; `loadConfigFile` turns it into TRIPLANE_ERR_CONFIG). */
export class ConfigSyntaxError extends Error {
  readonly line: number | undefined;
  constructor(reason: string, line: number | undefined) {
    super(reason);
    this.name = 'ConfigSyntaxError';
    this.line = line;
  }
}

/**
 * Turns file text into a config document. JSON is built in (`parseJsonConfig`); YAML is plugged in by the
 * app, which owns the `yaml` dependency: `yaml: yamlConfigParser(await import('yaml'))`.
 * Throws ConfigSyntaxError on bad syntax.
 */
export type ConfigParser = (text: string) => ParsedConfig;

export interface ConfigFileOptions {
  /** Parser for `.yaml`/`.yml` files. */
  yaml?: ConfigParser;
}

/**
 * Reads and validates `triplane edge --config FILE`. Every error is TRIPLANE_ERR_CONFIG with the file,
 * the line when known, the field and the reason, e.g.
 *   `edge.yaml:12: sites[0].upstreams[1]: expected http://host:port`
 *   details { file: 'edge.yaml', line: 12, field: 'sites[0].upstreams[1]', reason: 'expected http://host:port' }
 * Syntax errors have no field (`edge.json:3: JSON syntax: Expected ',' or '}' after property value`).
 */
export function loadConfigFile(path: string, opts: ConfigFileOptions = {}): EdgeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TriplaneError('TRIPLANE_ERR_CONFIG', `${path}: cannot read (${(e as Error).message})`, {
      file: path,
      reason: `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    });
  }
  const isYaml = /\.ya?ml$/i.test(path);
  let doc: ParsedConfig;
  try {
    if (isYaml) {
      if (!opts.yaml) throw new ConfigSyntaxError('YAML support is not installed; use a .json config', undefined);
      doc = opts.yaml(text);
    } else doc = parseJsonConfig(text);
  } catch (e) {
    const line = e instanceof ConfigSyntaxError ? e.line : undefined;
    const reason = `${isYaml ? 'YAML' : 'JSON'} syntax: ${(e as Error).message}`;
    throw new TriplaneError('TRIPLANE_ERR_CONFIG', `${where(path, line)}: ${reason}`, { file: path, line, reason });
  }
  try {
    // relative certificate paths and tls.caDir (default DIR/tls) resolve against the file's directory
    return loadConfig(doc.value, { baseDir: dirname(resolve(path)) });
  } catch (e) {
    if (!isTriplaneError(e)) throw e;
    const d = (e.details ?? {}) as { field?: string; reason?: string };
    const line = d.field !== undefined ? doc.lineOf(parseFieldName(d.field)) : undefined;
    throw new TriplaneError('TRIPLANE_ERR_CONFIG', `${where(path, line)}: ${e.message}`, {
      ...(e.details as object),
      file: path,
      line,
      field: d.field,
      reason: d.reason ?? e.message,
    });
  }
}

function where(path: string, line: number | undefined): string {
  return line === undefined ? path : `${path}:${line}`;
}

/** `sites[0].upstreams[1]` → `['sites', 0, 'upstreams', 1]`; `(root)` → `[]` (config.ts's field names). */
export function parseFieldName(field: string): (string | number)[] {
  if (field === '(root)') return [];
  const out: (string | number)[] = [];
  for (const m of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return out;
}

/* ------------------------------------------------------------------------------------------------ */
/* JSON: JSON.parse for the value, plus a small strict scanner (RFC 8259) for positions: where each  */
/* field starts, and where a syntax error is (V8's messages do not always carry a position).         */
/* ------------------------------------------------------------------------------------------------ */

const MAX_DEPTH = 256;

export function parseJsonConfig(text: string): ParsedConfig {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const located = locateJson(src);
  if ('error' in located) throw new ConfigSyntaxError(located.error.reason, lineAt(src, located.error.offset));
  let value: unknown;
  try {
    value = JSON.parse(src);
  } catch (e) {
    // the scanner accepted what JSON.parse refused: report V8's reason, without a line
    throw new ConfigSyntaxError((e as Error).message, undefined);
  }
  const offsets = located.offsets;
  return {
    value,
    lineOf(path) {
      for (let n = path.length; n >= 0; n--) {
        const off = offsets.get(pathKey(path.slice(0, n)));
        if (off !== undefined) return lineAt(src, off);
      }
      return undefined;
    },
  };
}

function pathKey(path: FieldPath): string {
  return path.map(String).join('\u0000');
}

/** 1-based line of a character offset. */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

type Located = { offsets: Map<string, number> } | { error: { offset: number; reason: string } };

/** Where every value starts (object members: where their key starts), or the first syntax error. */
function locateJson(s: string): Located {
  const offsets = new Map<string, number>();
  let i = 0;
  class Stop extends Error {
    readonly at: number;
    constructor(at: number, reason: string) {
      super(reason);
      this.at = at;
    }
  }
  const fail = (reason: string): never => {
    throw new Stop(i, reason);
  };
  const ws = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++;
  };
  const str = (): string => {
    const start = i;
    i++;
    while (i < s.length && s[i] !== '"') {
      const c = s.charCodeAt(i);
      if (c < 0x20) fail('control character in string');
      if (s[i] === '\\') {
        i++;
        if (s[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(s.slice(i + 1, i + 5))) fail('bad \\u escape');
          i += 4;
        } else if (!'"\\/bfnrt'.includes(s[i] ?? '')) fail('bad escape');
      }
      i++;
    }
    if (i >= s.length) fail('unterminated string');
    i++;
    return JSON.parse(s.slice(start, i)) as string;
  };
  const NUMBER = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
  const value = (path: (string | number)[], at: number | undefined, depth: number): void => {
    if (depth > MAX_DEPTH) fail('nested too deeply');
    ws();
    offsets.set(pathKey(path), at ?? i);
    const c = s[i];
    if (c === '{') {
      i++;
      ws();
      if (s[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (s[i] !== '"') fail('expected a double-quoted property name');
        const keyAt = i;
        const key = str();
        ws();
        if (s[i] !== ':') fail("expected ':' after property name");
        i++;
        value([...path, key], keyAt, depth + 1);
        ws();
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === '}') {
          i++;
          return;
        }
        fail("expected ',' or '}' after property value");
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (s[i] === ']') {
        i++;
        return;
      }
      for (let n = 0; ; n++) {
        value([...path, n], undefined, depth + 1);
        ws();
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === ']') {
          i++;
          return;
        }
        fail("expected ',' or ']' after array element");
      }
    }
    if (c === '"') {
      str();
      return;
    }
    for (const lit of ['true', 'false', 'null']) {
      if (s.startsWith(lit, i)) {
        i += lit.length;
        return;
      }
    }
    NUMBER.lastIndex = i;
    if (NUMBER.exec(s) && NUMBER.lastIndex > i) {
      i = NUMBER.lastIndex;
      return;
    }
    fail(i >= s.length ? 'unexpected end of input' : 'expected a value');
  };
  try {
    value([], undefined, 0);
    ws();
    if (i < s.length) fail('unexpected data after the document');
  } catch (e) {
    if (e instanceof Stop) return { error: { offset: e.at, reason: e.message } };
    throw e;
  }
  return { offsets };
}

/* ------------------------------------------------------------------------------------------------ */
/* YAML: the app injects the `yaml` package (a dependency of apps/triplane, not of this package).   */
/* ------------------------------------------------------------------------------------------------ */

/** The part of the `yaml` package (v2) used here. */
export interface YamlLineCounter {
  linePos(offset: number): { line: number; col: number };
}
export interface YamlLibrary<LC extends YamlLineCounter> {
  LineCounter: new () => LC;
  parseDocument(
    source: string,
    options?: { lineCounter?: LC; prettyErrors?: boolean },
  ): {
    errors: ReadonlyArray<{ message: string; pos: [number, number] }>;
    toJS(options: { maxAliasCount: number }): unknown;
    getIn(path: Iterable<unknown>, keepScalar?: boolean): unknown;
  };
}

/**
 * A YAML ConfigParser over the `yaml` package: parseDocument + LineCounter; a field's line is its
 * node's `range[0]`. Duplicate keys are errors; alias expansion is bounded (billion-laughs guard).
 */
export function yamlConfigParser<LC extends YamlLineCounter>(lib: YamlLibrary<LC>): ConfigParser {
  return (text) => {
    const lineCounter = new lib.LineCounter();
    // uniqueKeys is on by default in yaml v2: a duplicate key is an error
    const doc = lib.parseDocument(text, { lineCounter, prettyErrors: false });
    const err = doc.errors[0];
    if (err) throw new ConfigSyntaxError(err.message, lineCounter.linePos(err.pos[0]).line);
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      throw new ConfigSyntaxError((e as Error).message, undefined);
    }
    return {
      value,
      lineOf(path) {
        for (let n = path.length; n >= 0; n--) {
          const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
          if (node && typeof node === 'object' && Array.isArray(node.range)) return lineCounter.linePos(node.range[0]).line;
        }
        return undefined;
      },
    };
  };
}
