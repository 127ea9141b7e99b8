import { readFileSync } from 'node:fs';
import { isTriplaneError, TriplaneError } from '@triplane/kernel';
import { type EdgeConfig, loadConfig } from './config.ts';

/** Turns file text into a config object. JSON is built in; YAML is plugged in by the app (the `yaml` package). */
export type ConfigParser = (text: string) => unknown;

export interface ConfigFileOptions {
  /** Parser for `.yaml`/`.yml` files. */
  yaml?: ConfigParser;
}

/**
 * Reads and validates `triplane edge --config FILE`. Errors are TRIPLANE_ERR_CONFIG naming the file
 * and the field (`edge.yaml: sites[0].upstreams[1]: expected http://host:port`).
 * TODO(yaml): with the `yaml` package, map the field path to a line via its Document/CST API.
 */
export function loadConfigFile(path: string, opts: ConfigFileOptions = {}): EdgeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TriplaneError('TRIPLANE_ERR_CONFIG', `${path}: cannot read (${(e as Error).message})`, { file: path });
  }
  const isYaml = /\.ya?ml$/i.test(path);
  let raw: unknown;
  try {
    if (isYaml) {
      if (!opts.yaml) throw new Error('YAML support is not installed; use a .json config');
      raw = opts.yaml(text);
    } else raw = JSON.parse(text);
  } catch (e) {
    throw new TriplaneError('TRIPLANE_ERR_CONFIG', `${path}: ${(e as Error).message}`, { file: path });
  }
  try {
    return loadConfig(raw);
  } catch (e) {
    if (isTriplaneError(e))
      throw new TriplaneError('TRIPLANE_ERR_CONFIG', `${path}: ${e.message}`, { file: path, ...(e.details as object) });
    throw e;
  }
}
