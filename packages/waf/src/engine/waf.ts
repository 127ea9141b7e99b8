/**
 * The engine's entry point: a compiled rule set plus the collection store, handing out
 * transactions.
 *
 * Example:
 *   const waf = Waf.fromFile('/etc/triplane/waf/main.conf');
 *   const tx = waf.transaction({ method: 'GET', uri: '/?q=1', protocol: 'HTTP/1.1', headers, remoteAddr, uniqueId });
 *   const verdict = tx.processRequestHeaders() ?? tx.processRequestBody();
 */
import { type ReadOptions, readConfigFile, readConfigText } from '../config/reader.ts';
import { type CollectionStore, MemoryCollectionStore } from './collections.ts';
import { compileRuleSet } from './compile.ts';
import type { RuleSet } from './model.ts';
import { type MatchEvent, type RequestInput, Transaction } from './transaction.ts';

export interface WafOptions {
  store?: CollectionStore;
  now?: () => number;
  onLog?: (line: string, event: MatchEvent) => void;
}

export class Waf {
  readonly rules: RuleSet;
  private readonly store: CollectionStore;
  private readonly now: () => number;
  private readonly onLog: ((line: string, event: MatchEvent) => void) | undefined;

  constructor(rules: RuleSet, opts: WafOptions = {}) {
    this.rules = rules;
    this.store = opts.store ?? new MemoryCollectionStore();
    this.now = opts.now ?? Date.now;
    this.onLog = opts.onLog;
  }

  static fromFile(file: string, read: ReadOptions = {}, opts: WafOptions = {}): Waf {
    return new Waf(compileRuleSet(readConfigFile(file, read), read.readFile ? { readFile: read.readFile } : {}), opts);
  }

  static fromText(text: string, file: string, read: ReadOptions = {}, opts: WafOptions = {}): Waf {
    return new Waf(compileRuleSet(readConfigText(text, file, read), read.readFile ? { readFile: read.readFile } : {}), opts);
  }

  transaction(req: RequestInput, onLog = this.onLog): Transaction {
    return new Transaction(this.rules, req, { store: this.store, now: this.now, ...(onLog ? { onLog } : {}) });
  }
}
