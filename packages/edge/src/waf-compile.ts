import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { TriplaneError } from '@triplane/kernel';
import { type CollectionStore, MemoryCollectionStore, Waf } from '@triplane/waf';

/**
 * Compiles WAF root texts (waf-config.ts `wafRootText`) into `@triplane/waf` engines: one engine
 * per distinct text, shared by the sites that use it, and reused across reloads while none of the
 * files it read changed (a control-plane snapshot that only adds a purge must not recompile CRS,
 * ~0.7 s of CPU on the event loop).
 */
interface Entry {
  waf: Waf;
  /** Every file and directory the compile read, with what it looked like then. */
  deps: Map<string, string>;
}

function stamp(p: string): string {
  try {
    const st = statSync(p);
    return `${st.mtimeMs}:${st.size}:${st.ino}`;
  } catch {
    return 'missing';
  }
}

/**
 * The collection store (IP, GLOBAL… via initcol) of engines compiled in this process from now on:
 * an edge worker sets the host's shared store (waf-collections.ts) before it starts the edge.
 * Undefined: each compiler keeps one memory store for its engines (collections per process).
 */
let processStore: CollectionStore | undefined;
export function useWafCollectionStore(store: CollectionStore | undefined): void {
  processStore = store;
}

/**
 * Compiles root texts into engines, once per distinct text, and keeps them for the next reload
 * while the files (and directories, for Include globs) they read are unchanged. Every engine uses
 * the same collection store, as ModSecurity's SecDataDir is one per server: a counter for an IP sees
 * its requests to every site.
 */
export class WafCompiler {
  #entries = new Map<string, Entry>();
  readonly #store: CollectionStore = processStore ?? new MemoryCollectionStore();

  /** Throws TRIPLANE_ERR_CONFIG naming `field` and the SecLang file and line at fault. */
  compile(root: string, field: string): Waf {
    const hit = this.#entries.get(root);
    if (hit && [...hit.deps].every(([p, s]) => stamp(p) === s)) return hit.waf;
    const deps = new Map<string, string>();
    const readFile = (file: string) => {
      deps.set(file, stamp(file));
      deps.set(dirname(file), stamp(dirname(file)));
      return readFileSync(file, 'latin1');
    };
    let waf: Waf;
    try {
      waf = Waf.fromText(root, '/(edge waf root)', { readFile }, { store: this.#store });
    } catch (e) {
      const err = e as TriplaneError;
      const d = (err.details ?? {}) as { file?: string; line?: number; reason?: string };
      const reason = err.code === 'TRIPLANE_ERR_WAF_CONFIG' ? err.message : `cannot load rules (${err.message})`;
      throw new TriplaneError('TRIPLANE_ERR_CONFIG', `${field}: ${reason}`, {
        field,
        reason,
        ...(d.file !== undefined ? { rulesFile: d.file, rulesLine: d.line } : {}),
      });
    }
    this.#entries.set(root, { waf, deps });
    return waf;
  }

  /** Drop engines no longer used by the current config. */
  retain(roots: ReadonlySet<string>): void {
    for (const k of this.#entries.keys()) if (!roots.has(k)) this.#entries.delete(k);
  }
}
