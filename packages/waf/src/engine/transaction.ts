/**
 * One HTTP transaction through the rule set, ModSecurity 2 style:
 *
 *   processRequestHeaders()  phase 1
 *   processRequestBody()     body processor (urlencoded/multipart/JSON/XML), then phase 2
 *   processResponseHeaders() phase 3
 *   processResponseBody()    phase 4
 *   processLogging()         phase 5
 *
 * Each returns an Intervention when a disruptive action fires in `On` mode (never in
 * DetectionOnly), after which later phases are not run except logging. All strings are latin1
 * byte strings. Pure: no sockets, no files; persistent collections go through a store.
 */
import { parseJsonBody } from '../body/json.ts';
import { type MultipartFile, type MultipartResult, parseMultipart, strictError } from '../body/multipart.ts';
import type { Arg } from '../body/types.ts';
import { parseUrlEncoded } from '../body/urlencoded.ts';
import { parseXmlBody, type XmlResult } from '../body/xml.ts';
import type { OperatorTx } from '../operators/registry.ts';
import type { CollectionStore, StoredCollection } from './collections.ts';
import { evaluatePhase } from './evaluate.ts';
import type { EngineMode, Rule, RuleSet, TargetSpec } from './model.ts';
import { PhaseCache } from './phase-cache.ts';
import type { GroupScan, Scan } from './prefilter-groups.ts';
import type { Target } from './targets.ts';

/** A collection entry; `target` memoizes its Target (engine/targets.ts) while the entry lives. */
export interface Entry extends Arg {
  target?: Target | undefined;
}

function percentDecode(s: string): string {
  if (s.indexOf('%') < 0) return s;
  return s.replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
}

export interface RequestInput {
  method: string;
  /** request target as sent (origin-form or absolute-form) */
  uri: string;
  /** e.g. HTTP/1.1 */
  protocol: string;
  headers: ReadonlyArray<readonly [string, string]>;
  /** raw body bytes (latin1) */
  body?: string;
  remoteAddr: string;
  remotePort?: number;
  serverAddr?: string;
  serverPort?: number;
  uniqueId: string;
  /** the raw request line, when the caller has it */
  requestLine?: string;
}

export interface ResponseInput {
  status: number;
  protocol?: string;
  headers: ReadonlyArray<readonly [string, string]>;
  body?: string;
}

export interface Intervention {
  status: number;
  ruleId: number;
  action: 'deny' | 'drop' | 'redirect';
  url?: string;
}

export interface MatchEvent {
  ruleId: number;
  phase: number;
  file: string;
  line: number;
  msg: string;
  data: string;
  severity: number | undefined;
  tags: string[];
  ver: string | undefined;
  /** ModSecurity-style description: Matched "Operator `Rx' with parameter …" */
  match: string;
  /** the rule's disruptive action and whether it was enforced */
  disruptive: string;
  enforced: boolean;
  /** written to the error log (rule has `log`) */
  log: boolean;
}

export interface TransactionOptions {
  store: CollectionStore;
  now: () => number;
  onLog?: (line: string, event: MatchEvent) => void;
}

type RemovedTarget = { test: (r: Rule) => boolean; target: TargetSpec };

let serials = 0;

export class Transaction {
  readonly req: RequestInput;
  res: ResponseInput | undefined;
  readonly rules: RuleSet;
  readonly events: MatchEvent[] = [];
  readonly env = new Map<string, string>();
  readonly requestHeaders: Arg[];
  responseHeaders: Arg[] = [];
  readonly path: string;
  readonly queryString: string;
  readonly requestUri: string;
  readonly basename: string;
  readonly requestLine: string;
  argsGet: Arg[];
  argsPost: Arg[] = [];
  files: MultipartFile[] = [];
  multipart: MultipartResult | undefined;
  xml: XmlResult | undefined;
  bodyProcessor = '';
  bodyError: string | undefined;
  bodyTruncated = false;
  urlencodedInvalid = false;
  highestSeverity = 255;
  matchedVar: Arg | undefined;
  /**
   * MATCHED_VARS of the chain being evaluated: the first matchedCount entries (the array is
   * reused from chain to chain: most chains match once or not at all, and CRS has hundreds)
   */
  readonly matchedStore: Arg[] = [];
  matchedCount = 0;
  /** rule being evaluated (for RULE.* macros) */
  currentRule: Rule | undefined;
  captures: Array<string | undefined> = [];
  /** per-transaction overrides (ctl) */
  ruleEngine: EngineMode;
  requestBodyAccess: boolean;
  forceRequestBodyVariable = false;
  requestBodyProcessorOverride: string | undefined;
  readonly removedIds: Array<(id: number) => boolean> = [];
  readonly removedTags: RegExp[] = [];
  readonly removedTargets: RemovedTarget[] = [];
  intervention: Intervention | undefined;
  /** a disruptive action fired in the phase being evaluated: stop evaluating rules */
  halted = false;
  /** receives each log line as it is produced (rules with `log`) */
  onLog: ((line: string, event: MatchEvent) => void) | undefined;
  /** `allow` reached: skip the remaining rules (of the phase, or the request phases, or all) */
  allowed: 'all' | 'request' | undefined;
  /** per-phase cache of non-volatile targets by TargetSpec.index (engine/targets.ts) */
  readonly targetCache: PhaseCache<Target[]>;
  /** per-phase cache of each rule's final target list once a ctl removed targets (engine/targets.ts) */
  readonly ruleTargetCache = new Map<Rule, Target[]>();
  /** per-phase cache of final target lists by Rule.targetsIndex, while no ctl removed targets */
  readonly sharedTargetCache: PhaseCache<Target[]>;
  /** per value (by valueId), what it holds through each prefilter chain (prefilter-groups.ts valueScans) */
  readonly valueScans: Array<Array<Scan | undefined> | undefined> = [];
  /** distinct target values seen by prefilter groups, numbered (valueId) */
  readonly values: string[] = [];
  /** distinguishes this transaction from every other in the process (Target.vtx) */
  readonly serial = ++serials;
  private readonly valueIds = new Map<string, number>();
  /** what each prefilter group's values hold, during the current phase */
  readonly prefilterFound: PhaseCache<GroupScan>;
  /** what the values of each prefilter pair (RuleSet.prefilterPairs) hold, during the current phase */
  readonly pairScans: PhaseCache<GroupScan>;
  /** scans of long lower-cased transformed values, shared by every chain (short ones: PrefilterShared.memo) */
  readonly scanMemo = new Map<string, Scan>();
  /**
   * Transformation results of this transaction by chain (RuleSet.chains index), keyed by the
   * input value: CRS runs the same chains over the same values hundreds of times.
   */
  readonly tfCache: Array<Array<string | undefined> | undefined>;
  /** per transformation (Rule.tids) and value (valueId): does it leave the value unchanged */
  readonly tfIdentity: Array<boolean[] | undefined> = [];
  /** the operator-facing view of this transaction (evaluate.ts) */
  opTx: OperatorTx | undefined;
  /** TX collection (lower-cased name → entry) */
  readonly txVars = new Map<string, Entry>();
  readonly started: number;
  private readonly opts: TransactionOptions;
  private readonly collections = new Map<string, Map<string, Arg>>();
  private readonly persistent = new Map<string, StoredCollection>();
  private argsCache: Arg[] | undefined;
  private cookiesCache: Arg[] | undefined;
  private phaseDone = 0;

  constructor(rules: RuleSet, req: RequestInput, opts: TransactionOptions) {
    this.rules = rules;
    this.req = req;
    this.opts = opts;
    this.onLog = opts.onLog;
    this.started = opts.now();
    this.ruleEngine = rules.settings.ruleEngine;
    this.requestBodyAccess = rules.settings.requestBodyAccess;
    this.requestHeaders = req.headers.map(([name, value]) => ({ name, value }));
    let target = req.uri;
    // absolute-form: ModSecurity's REQUEST_FILENAME/QUERY_STRING come from the parsed URI
    const abs = target.charCodeAt(0) === 47 ? null : /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/.exec(target);
    if (abs) target = target.slice(abs[0].length) || '/';
    const hash = target.indexOf('#');
    if (hash >= 0) target = target.slice(0, hash);
    const q = target.indexOf('?');
    // REQUEST_FILENAME is the %-decoded path (as libmodsecurity and CRS's tests expect)
    this.path = percentDecode(q < 0 ? target : target.slice(0, q));
    this.queryString = q < 0 ? '' : target.slice(q + 1);
    this.requestUri = target;
    const slash = this.path.lastIndexOf('/');
    this.basename = slash < 0 ? this.path : this.path.slice(slash + 1);
    this.requestLine = req.requestLine ?? `${req.method} ${req.uri} ${req.protocol}`;
    const qs = parseUrlEncoded(this.queryString, rules.settings.argumentSeparator, rules.settings.argumentsLimit);
    this.argsGet = qs.args;
    if (qs.invalid > 0) this.urlencodedInvalid = true;
    this.collections.set('tx', this.txVars);
    this.prefilterFound = new PhaseCache(rules.prefilterGroups);
    this.pairScans = new PhaseCache(rules.prefilterPairs.length);
    this.targetCache = new PhaseCache(rules.targetSpecs);
    this.sharedTargetCache = new PhaseCache(rules.targetLists);
    this.tfCache = new Array(rules.chains.length).fill(undefined);
  }

  // ---- phases

  processRequestHeaders(): Intervention | undefined {
    return this.runPhase(1);
  }

  processRequestBody(): Intervention | undefined {
    if (this.intervention) return this.intervention;
    if (this.phaseDone < 1) this.processRequestHeaders();
    if (this.intervention) return this.intervention;
    this.processBody();
    return this.runPhase(2);
  }

  processResponseHeaders(res: ResponseInput): Intervention | undefined {
    this.res = res;
    this.responseHeaders = res.headers.map(([name, value]) => ({ name, value }));
    if (this.intervention) return this.intervention;
    if (this.phaseDone < 2) this.processRequestBody();
    if (this.intervention) return this.intervention;
    return this.runPhase(3);
  }

  processResponseBody(): Intervention | undefined {
    if (this.intervention) return this.intervention;
    // phases always run in order (compile-time folding relies on it, see fold.ts)
    if (this.phaseDone < 2) this.processRequestBody();
    if (this.intervention) return this.intervention;
    if (this.phaseDone < 3) this.runPhase(3);
    if (this.intervention) return this.intervention;
    return this.runPhase(4);
  }

  processLogging(): void {
    if (this.phaseDone >= 5) return;
    this.clearTargetCaches();
    if (this.ruleEngine !== 'Off') evaluatePhase(this, 5);
    this.phaseDone = 5;
    this.persistCollections();
  }

  private runPhase(phase: number): Intervention | undefined {
    if (this.phaseDone >= phase) return this.intervention;
    this.phaseDone = phase;
    if (this.ruleEngine === 'Off' || this.intervention) return this.intervention;
    if (this.allowed === 'all' || (this.allowed === 'request' && phase <= 2)) return undefined;
    this.clearTargetCaches();
    evaluatePhase(this, phase);
    return this.intervention;
  }

  // ---- request body

  private processBody(): void {
    const body = this.req.body ?? '';
    const ct = this.header('content-type') ?? '';
    const s = this.rules.settings;
    let processor = this.requestBodyProcessorOverride;
    if (processor === undefined) {
      const lc = ct.toLowerCase();
      if (lc.startsWith('application/x-www-form-urlencoded')) processor = 'URLENCODED';
      else if (lc.startsWith('multipart/form-data')) processor = 'MULTIPART';
    }
    this.bodyProcessor = processor ?? '';
    if (!this.requestBodyAccess) return;
    let data = body;
    const limit = processor === 'MULTIPART' ? s.requestBodyLimit : s.requestBodyNoFilesLimit;
    if (data.length > limit) {
      this.bodyTruncated = true;
      if (s.requestBodyLimitAction === 'Reject' && this.ruleEngine === 'On') {
        this.intervention = { status: 413, ruleId: 0, action: 'deny' };
        return;
      }
      data = data.slice(0, limit);
    }
    if (data === '' && processor !== 'MULTIPART') return;
    switch (processor) {
      case 'URLENCODED': {
        const r = parseUrlEncoded(data, s.argumentSeparator, s.argumentsLimit - this.argsGet.length);
        this.argsPost = r.args;
        if (r.invalid > 0) this.urlencodedInvalid = true;
        break;
      }
      case 'MULTIPART': {
        const r = parseMultipart(data, ct);
        this.multipart = r;
        this.argsPost = r.args;
        this.files = r.files;
        if (r.error) this.bodyError = r.error;
        break;
      }
      case 'JSON': {
        const r = parseJsonBody(data, s.jsonDepthLimit, s.argumentsLimit - this.argsGet.length);
        this.argsPost = r.args;
        if (r.error) this.bodyError = r.error;
        break;
      }
      case 'XML': {
        const r = parseXmlBody(data);
        this.xml = r;
        if (r.error) this.bodyError = r.error;
        break;
      }
      default:
        break;
    }
    this.argsCache = undefined;
  }

  /** REQUEST_BODY: only with the URLENCODED processor, or when forced with no processor. */
  requestBodyVar(): string | undefined {
    if (!this.requestBodyAccess || this.phaseDone < 2) return undefined;
    const body = this.req.body ?? '';
    if (this.bodyProcessor === 'URLENCODED') return body;
    if (this.bodyProcessor === '' && this.forceRequestBodyVariable) return body;
    return undefined;
  }

  responseBodyVar(): string | undefined {
    if (!this.res || this.res.body === undefined || !this.rules.settings.responseBodyAccess) return undefined;
    const ct = (this.responseHeaders.find((h) => h.name.toLowerCase() === 'content-type')?.value ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase();
    if (!this.rules.settings.responseBodyMimeTypes.includes(ct)) return undefined;
    return this.res.body.slice(0, this.rules.settings.responseBodyLimit);
  }

  multipartFlag(name: string): string {
    const m = this.multipart;
    if (!m) return '0';
    if (name === 'strict') return strictError(m.flags, m.error) ? '1' : '0';
    return (m.flags as unknown as Record<string, boolean>)[name] ? '1' : '0';
  }

  xmlEntries(xpath: string): Arg[] {
    if (!this.xml || this.xml.error) return [];
    if (xpath === '/*' || xpath === '/') return [{ name: xpath, value: this.xml.text }];
    if (xpath === '//@*') return this.xml.attributes.map((v) => ({ name: xpath, value: v }));
    return [];
  }

  // ---- collections used by variables

  /** MATCHED_VARS: a copy (the store is reused by the next chain). */
  matchedVars(): Arg[] {
    return this.matchedStore.slice(0, this.matchedCount);
  }

  args(): Arg[] {
    this.argsCache ??= this.argsPost.length === 0 ? this.argsGet : [...this.argsGet, ...this.argsPost];
    return this.argsCache;
  }

  header(lname: string): string | undefined {
    for (const h of this.requestHeaders) if (h.name.toLowerCase() === lname) return h.value;
    return undefined;
  }

  hostHeader(): string {
    return this.header('host') ?? '';
  }

  /** Cookie header(s), version 0 format: `a=1; b=2` (values not decoded). */
  cookies(): Arg[] {
    if (this.cookiesCache) return this.cookiesCache;
    const out: Arg[] = [];
    for (const h of this.requestHeaders) {
      if (h.name.toLowerCase() !== 'cookie') continue;
      for (const part of h.value.split(';')) {
        const p = part.replace(/^[ \t]+/, '');
        if (p === '') continue;
        const eq = p.indexOf('=');
        out.push(eq < 0 ? { name: p, value: '' } : { name: p.slice(0, eq), value: p.slice(eq + 1) });
      }
    }
    this.cookiesCache = out;
    return out;
  }

  fullRequest(): string {
    return `${this.requestLine}\r\n${this.requestHeaders.map((h) => `${h.name}: ${h.value}\r\n`).join('')}\r\n${this.req.body ?? ''}`;
  }

  elapsedMicros(): number {
    return (this.opts.now() - this.started) * 1000;
  }

  ruleCollection(): Arg[] {
    const r = this.currentRule;
    if (!r) return [];
    const out: Arg[] = [{ name: 'id', value: String(r.id) }];
    if (r.msg !== undefined) out.push({ name: 'msg', value: r.msg });
    if (r.severity !== undefined) out.push({ name: 'severity', value: String(r.severity) });
    if (r.ver !== undefined) out.push({ name: 'ver', value: r.ver });
    if (r.rev !== undefined) out.push({ name: 'rev', value: r.rev });
    if (r.logdata !== undefined) out.push({ name: 'logdata', value: r.logdata });
    for (const t of r.tags) out.push({ name: 'tag', value: t });
    out.push({ name: 'phase', value: String(r.phase) });
    return out;
  }

  // TX / IP / GLOBAL / SESSION / USER / RESOURCE

  collectionEntries(coll: string): Arg[] {
    const m = this.collections.get(coll);
    if (!m) return [];
    this.expire(coll);
    return [...m.values()];
  }

  collectionGet(coll: string, lkey: string): Entry | undefined {
    if (coll === 'tx') return this.txVars.get(lkey);
    const m = this.collections.get(coll);
    if (!m) return undefined;
    if (coll !== 'tx') this.expire(coll);
    return m.get(lkey);
  }

  /**
   * `relative`: a `=+n`/`=-n` setvar. For a persistent collection the value before it is kept
   * (StoredCollection.original) so the store adds the difference to what is stored at save time:
   * two workers counting the same IP at once both count.
   */
  collectionSet(coll: string, key: string, value: string, relative = false): void {
    const m = this.collections.get(coll);
    if (!m) return;
    const lkey = key.toLowerCase();
    if (relative && coll !== 'tx') {
      const o = this.persistent.get(coll)?.original;
      if (o && !o.has(lkey)) o.set(lkey, m.get(lkey)?.value ?? '0');
    }
    m.set(lkey, { name: key, value, target: undefined } as Entry);
    if (coll !== 'tx') this.persistent.get(coll)?.dirty.add(lkey);
  }

  collectionDelete(coll: string, key: string): void {
    const m = this.collections.get(coll);
    if (!m) return;
    m.delete(key.toLowerCase());
    this.persistent.get(coll)?.dirty.add(key.toLowerCase());
  }

  collectionExpire(coll: string, key: string, seconds: number): void {
    const p = this.persistent.get(coll);
    if (!p) return;
    p.expiry.set(key.toLowerCase(), this.opts.now() + seconds * 1000);
  }

  initCollection(coll: string, key: string): void {
    if (coll === 'tx' || this.persistent.has(coll)) return;
    const stored = this.opts.store.load(coll, key, this.opts.now());
    this.persistent.set(coll, stored);
    this.collections.set(coll, stored.values);
  }

  private expire(coll: string): void {
    const p = this.persistent.get(coll);
    if (!p || p.expiry.size === 0) return;
    const now = this.opts.now();
    for (const [k, at] of p.expiry) {
      if (at <= now) {
        p.values.delete(k);
        p.expiry.delete(k);
      }
    }
  }

  private persistCollections(): void {
    for (const p of this.persistent.values()) this.opts.store.save(p, this.rules.settings.collectionTimeout, this.opts.now());
  }

  /** The rule (or a chain it starts) is removed for this transaction by ctl. */
  isRemoved(r: Rule): boolean {
    for (const f of this.removedIds) if (f(r.id)) return true;
    if (this.removedTags.length > 0) for (const re of this.removedTags) if (r.tags.some((t) => re.test(t))) return true;
    return false;
  }

  /** A number for a target value, stable for the transaction. */
  valueId(v: string): number {
    let id = this.valueIds.get(v);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(v);
      this.valueIds.set(v, id);
    }
    return id;
  }

  clearTargetCaches(): void {
    this.targetCache.clear();
    this.ruleTargetCache.clear();
    this.sharedTargetCache.clear();
    this.prefilterFound.clear();
    this.pairScans.clear();
  }
}
