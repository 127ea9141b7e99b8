/**
 * Directives → RuleSet. Runs once per configuration; everything a request needs (regexes,
 * phrase automata, transformation lists, default actions) is resolved here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseActions, type RawAction } from '../config/parse-actions.ts';
import { parseVariables, type VarSpec } from '../config/parse-variables.ts';
import type { Directive } from '../config/reader.ts';
import { configError, type SourcePos } from '../errors.ts';
import { WAF_LIBINJECTION } from '../libinjection/native.ts';
import { operators } from '../operators/registry.ts';
import { compilePcre } from '../regex/compile.ts';
import { type Transformation, transformations } from '../transformations/registry.ts';
import { variables } from '../variables/registry.ts';
import { foldConstants } from './fold.ts';
import type { Disruptive, EngineMode, EngineSettings, NdAction, Rule, RuleSet, TargetSpec } from './model.ts';
import { SEVERITIES } from './model.ts';
import { assignPrefilterGroups } from './prefilter-groups.ts';

export interface CompileOptions {
  readFile?: (file: string) => string;
  /** compile-time folding of constant TX conditions (fold.ts); on by default */
  fold?: boolean;
}

interface Defaults {
  actions: RawAction[];
}

const IGNORED_DIRECTIVES = new Set(
  [
    'SecAuditLog',
    'SecAuditLog2',
    'SecAuditLogRelevantStatus',
    'SecAuditLogType',
    'SecAuditLogStorageDir',
    'SecAuditLogDirMode',
    'SecAuditLogFileMode',
    'SecAuditLogFormat',
    'SecTmpDir',
    'SecDataDir',
    'SecUploadDir',
    'SecUploadKeepFiles',
    'SecUploadFileMode',
    'SecUploadFileLimit',
    'SecTmpSaveUploadedFiles',
    'SecDebugLog',
    'SecDebugLogLevel',
    'SecUnicodeMapFile',
    'SecUnicodeCodePage',
    'SecStatusEngine',
    'SecServerSignature',
    'SecWebAppId',
    'SecCookieFormat',
    'SecCookieV0Separator',
    'SecPcreMatchLimitRecursion',
    'SecGeoLookupDb',
    'SecHashEngine',
    'SecHashKey',
    'SecHashParam',
    'SecHashMethodRx',
    'SecHashMethodPm',
    'SecRequestBodyInMemoryLimit',
    'SecConnEngine',
    'SecSensorId',
    'SecXmlExternalEntity',
    'SecInterceptOnError',
    'SecRuleInheritance',
    'SecRulePerfTime',
    'SecStreamInBodyInspection',
    'SecStreamOutBodyInspection',
    'SecDisableBackendCompression',
    'SecContentInjection',
    'SecRemoteRules',
    'SecRemoteRulesFailAction',
  ].map((d) => d.toLowerCase()),
);

export function defaultSettings(): EngineSettings {
  return {
    ruleEngine: 'Off',
    requestBodyAccess: false,
    responseBodyAccess: false,
    requestBodyLimit: 134217728,
    requestBodyNoFilesLimit: 1048576,
    requestBodyLimitAction: 'Reject',
    responseBodyLimit: 524288,
    responseBodyLimitAction: 'ProcessPartial',
    responseBodyMimeTypes: [],
    argumentsLimit: 1000,
    jsonDepthLimit: 10000,
    argumentSeparator: '&',
    collectionTimeout: 3600,
    componentSignatures: [],
    pcreMatchLimit: 1500,
    auditEngine: 'Off',
    auditLogParts: 'ABCFHZ',
  };
}

export function compileRuleSet(directives: readonly Directive[], opts: CompileOptions = {}): RuleSet {
  const readFile = opts.readFile ?? ((f: string) => fs.readFileSync(f, 'latin1'));
  const settings = defaultSettings();
  const phases: Rule[][] = [[], [], [], [], [], []];
  const byId = new Map<number, Rule>();
  const defaults = new Map<number, Defaults>();
  let ruleCount = 0;
  let pendingChain: Rule | undefined;

  const onOff = (d: Directive): boolean => {
    const v = arg(d, 0).toLowerCase();
    if (v !== 'on' && v !== 'off') throw configError(d, `${d.name} takes On or Off, got "${arg(d, 0)}"`);
    return v === 'on';
  };
  const int = (d: Directive): number => {
    const v = arg(d, 0);
    if (!/^\d+$/.test(v)) throw configError(d, `${d.name} takes a number, got "${v}"`);
    return Number(v);
  };

  for (const d of directives) {
    const name = d.name.toLowerCase();
    if (pendingChain && name !== 'secrule') throw configError(d, `chained rule missing: ${d.name} follows a rule with "chain"`);
    switch (name) {
      case 'secrule':
      case 'secaction': {
        const isAction = name === 'secaction';
        if (isAction ? d.args.length !== 1 : d.args.length < 2 || d.args.length > 3)
          throw configError(d, isAction ? 'SecAction takes one argument' : 'SecRule takes 2 or 3 arguments');
        ruleCount++;
        const starter = pendingChain;
        const rule = buildRule(d, isAction, starter !== undefined, defaults, readFile);
        if (starter) {
          let last = starter;
          while (last.chain) last = last.chain;
          last.chain = rule;
          rule.phase = starter.phase;
          rule.isLink = true;
          pendingChain = rule.chained ? starter : undefined;
          continue;
        }
        if (rule.id === 0) throw configError(d, 'rule has no id');
        if (byId.has(rule.id)) throw configError(d, `duplicate rule id ${rule.id}`);
        byId.set(rule.id, rule);
        phases[rule.phase]!.push(rule);
        if (rule.chained) pendingChain = rule;
        break;
      }
      case 'secmarker': {
        const m = emptyRule(d);
        m.marker = arg(d, 0);
        for (let p = 1; p <= 5; p++) phases[p]!.push({ ...m, phase: p });
        break;
      }
      case 'secdefaultaction': {
        const acts = parseActions(arg(d, 0), d);
        const ph = acts.find((a) => a.name === 'phase');
        if (!ph) throw configError(d, 'SecDefaultAction must name a phase');
        const phase = parsePhase(ph.value, d);
        if (!acts.some((a) => ['pass', 'deny', 'block', 'drop', 'allow', 'redirect'].includes(a.name)))
          throw configError(d, 'SecDefaultAction must include a disruptive action');
        defaults.set(phase, { actions: acts.filter((a) => a.name !== 'phase') });
        break;
      }
      case 'secruleengine': {
        const v = arg(d, 0).toLowerCase();
        const map: Record<string, EngineMode> = { on: 'On', off: 'Off', detectiononly: 'DetectionOnly' };
        const m = map[v];
        if (!m) throw configError(d, `SecRuleEngine takes On, Off or DetectionOnly, got "${arg(d, 0)}"`);
        settings.ruleEngine = m;
        break;
      }
      case 'secrequestbodyaccess':
        settings.requestBodyAccess = onOff(d);
        break;
      case 'secresponsebodyaccess':
        settings.responseBodyAccess = onOff(d);
        break;
      case 'secrequestbodylimit':
        settings.requestBodyLimit = int(d);
        break;
      case 'secrequestbodynofileslimit':
        settings.requestBodyNoFilesLimit = int(d);
        break;
      case 'secresponsebodylimit':
        settings.responseBodyLimit = int(d);
        break;
      case 'secrequestbodylimitaction':
      case 'secresponsebodylimitaction': {
        const v = arg(d, 0);
        if (v !== 'Reject' && v !== 'ProcessPartial') throw configError(d, `${d.name} takes Reject or ProcessPartial`);
        if (name === 'secrequestbodylimitaction') settings.requestBodyLimitAction = v;
        else settings.responseBodyLimitAction = v;
        break;
      }
      case 'secresponsebodymimetype':
        settings.responseBodyMimeTypes.push(...d.args.flatMap((a) => a.split(/\s+/)).filter((x) => x !== ''));
        break;
      case 'secresponsebodymimetypesclear':
        settings.responseBodyMimeTypes = [];
        break;
      case 'secargumentslimit':
        settings.argumentsLimit = int(d);
        break;
      case 'secrequestbodyjsondepthlimit':
        settings.jsonDepthLimit = int(d);
        break;
      case 'secargumentseparator':
        if (arg(d, 0).length !== 1) throw configError(d, 'SecArgumentSeparator takes one character');
        settings.argumentSeparator = arg(d, 0);
        break;
      case 'seccollectiontimeout':
        settings.collectionTimeout = int(d);
        break;
      case 'seccomponentsignature':
        settings.componentSignatures.push(arg(d, 0));
        break;
      case 'secpcrematchlimit':
        settings.pcreMatchLimit = int(d);
        break;
      case 'secauditengine':
        settings.auditEngine = arg(d, 0);
        break;
      case 'secauditlogparts':
        settings.auditLogParts = arg(d, 0);
        break;
      case 'secruleremovebyid':
        for (const a of d.args) {
          const test = idMatcher(a, d);
          removeRules(phases, byId, (r) => test(r.id));
        }
        break;
      case 'secruleremovebytag': {
        const re = compileSelector(arg(d, 0), d);
        removeRules(phases, byId, (r) => r.tags.some((t) => re.re.test(t)));
        break;
      }
      case 'secruleremovebymsg': {
        const re = compileSelector(arg(d, 0), d);
        removeRules(phases, byId, (r) => r.msg !== undefined && re.re.test(r.msg));
        break;
      }
      case 'secruleupdatetargetbyid':
      case 'secruleupdatetargetbytag':
      case 'secruleupdatetargetbymsg': {
        if (d.args.length < 2) throw configError(d, `${d.name} takes a selector and targets`);
        const targets = compileTargets(parseVariables(arg(d, 1), d), d);
        let test: (r: Rule) => boolean;
        if (name === 'secruleupdatetargetbyid') {
          const ids = idMatcher(arg(d, 0), d);
          test = (r) => ids(r.id);
        } else {
          const re = compileSelector(arg(d, 0), d).re;
          test =
            name === 'secruleupdatetargetbytag'
              ? (r) => r.tags.some((t) => re.test(t))
              : (r) => r.msg !== undefined && re.test(r.msg);
        }
        for (const r of byId.values()) if (test(r)) updateTargets(r, targets, d.args[2]);
        break;
      }
      case 'secruleupdateactionbyid': {
        const [idPart] = arg(d, 0).split(':');
        const r = byId.get(Number(idPart));
        if (!r) throw configError(d, `SecRuleUpdateActionById: no rule ${arg(d, 0)}`);
        applyActions(r, parseActions(arg(d, 1), d), d, true);
        break;
      }
      default:
        if (IGNORED_DIRECTIVES.has(name)) break;
        throw configError(d, `unknown directive ${d.name}`);
    }
  }
  if (pendingChain) throw configError(pendingChain, 'last rule says "chain" but no rule follows');
  // targets may have changed (SecRuleUpdateTargetBy…): settle caching, then group prefilters
  const every: Rule[] = [];
  const chains = new Map<string, number>();
  // selections and target lists are numbered: per-transaction caches are arrays, not Maps
  const specIndex = new Map<string, number>();
  const listIndex = new Map<string, number>();
  const number = (m: Map<string, number>, k: string): number => {
    let i = m.get(k);
    if (i === undefined) {
      i = m.size;
      m.set(k, i);
    }
    return i;
  };
  for (const r of byId.values())
    for (let l: Rule | undefined = r; l; l = l.chain) {
      l.cacheTargets = l.targets.length > 0 && l.targets.every((t) => t.variable.volatile !== true);
      l.targetsKey = l.targets.map((t) => (t.exclude ? '!' : '') + t.cacheKey).join('|');
      l.targetsIndex = number(listIndex, l.targetsKey);
      for (const t of l.targets) t.index = number(specIndex, t.cacheKey);
      l.tchain = number(chains, l.tkey);
      l.tids = Int32Array.from(l.transforms, transformationIndex);
      l.txSpec = txSpecOf(l);
      every.push(l);
    }
  const pf = assignPrefilterGroups(every, (transforms) => ({
    transforms,
    tids: Int32Array.from(transforms, transformationIndex),
    tchain: number(chains, transforms.map((t) => t.name).join(',')),
  }));
  const set: RuleSet = {
    settings,
    phases,
    byId,
    ruleCount,
    chains: [...chains.keys()],
    targetSpecs: specIndex.size,
    targetLists: listIndex.size,
    prefilterChains: pf.chains,
    prefilterGroups: pf.groups,
    prefilterPairs: pf.pairs,
    foldStats: { always: 0, never: 0, dead: 0 },
  };
  if (opts.fold !== false) set.foldStats = foldConstants(set);
  return set;
}

const transformationIds = new Map([...new Set(transformations.values())].map((t, i) => [t, i] as const));

/** A transformation's number (Transaction.tfIdentity); the registry holds every one a rule can name. */
export function transformationIndex(t: Transformation): number {
  return transformationIds.get(t)!;
}

/** The rule's only target is TX:key or &TX:key: evaluate.ts reads it without a target list. */
function txSpecOf(r: Rule): TargetSpec | undefined {
  if (r.targets.length !== 1) return undefined;
  const t = r.targets[0]!;
  if (t.exclude || t.variable.persistent !== 'tx' || t.lkey === undefined) return undefined;
  if (t.count)
    t.countTargets = [
      { coll: t.name, key: undefined, name: `&${t.name}:${t.key}`, value: '0' },
      { coll: t.name, key: undefined, name: `&${t.name}:${t.key}`, value: '1' },
    ];
  return t;
}

function arg(d: Directive, i: number): string {
  const v = d.args[i];
  if (v === undefined) throw configError(d, `${d.name}: missing argument ${i + 1}`);
  return v;
}

function removeRules(phases: Rule[][], byId: Map<number, Rule>, test: (r: Rule) => boolean): void {
  for (let p = 1; p <= 5; p++) phases[p] = phases[p]!.filter((r) => r.marker !== undefined || !test(r));
  for (const [id, r] of byId) if (test(r)) byId.delete(id);
}

/** "942100", "900000-900999", or a list of them; a range matches inclusively. */
export function idMatcher(spec: string, pos: SourcePos): (id: number) => boolean {
  const parts = spec
    .split(/[\s,]+/)
    .filter((x) => x !== '')
    .map((p) => {
      const m = /^(\d+)(?:-(\d+))?$/.exec(p);
      if (!m) throw configError(pos, `bad rule id or range "${p}"`);
      return [Number(m[1]), Number(m[2] ?? m[1])] as const;
    });
  return (id) => parts.some(([lo, hi]) => id >= lo && id <= hi);
}

function compileSelector(pattern: string, pos: SourcePos) {
  try {
    return compilePcre(pattern);
  } catch (e) {
    throw configError(pos, `bad regex "${pattern}": ${(e as Error).message}`);
  }
}

export function compileTargets(specs: VarSpec[], pos: SourcePos): TargetSpec[] {
  for (const s of specs) if (!variables.has(s.name)) throw configError(pos, `unknown variable ${s.name}`);
  return specs.map((s) => ({
    ...s,
    lkey: s.key?.toLowerCase(),
    variable: variables.get(s.name)!,
    cacheKey: `${s.count ? '&' : ''}${s.name}:${s.key !== undefined ? 'k' + s.key.toLowerCase() : s.keyRegex !== undefined ? 'r' + s.keyRegex : ''}`,
    index: -1,
    re: s.keyRegex === undefined ? undefined : compileSelector('(?i)' + s.keyRegex, pos),
    keyLiteral: s.keyRegex === undefined ? undefined : literalSelector(s.keyRegex),
  }));
}

/**
 * A key regex that is an ASCII literal (letters, digits, `_`, `-`, escaped `/` and `.`),
 * optionally anchored with `^`, optionally ending in `c*` (which also matches nothing, so it
 * does not change which keys match).
 */
export function literalSelector(re: string): { text: string; anchored: boolean } | undefined {
  let body = re;
  if (/(?:^|[^\\])[A-Za-z0-9_]\*$/.test(body)) body = body.slice(0, -2);
  // letters, digits, `_`, `-`, and `/` `.` escaped (`leakage\/errors`)
  const m = /^(\^?)((?:[A-Za-z0-9_-]|\\[/.])+)$/.exec(body);
  if (!m) return undefined;
  return { text: m[2]!.replace(/\\(.)/g, '$1').toLowerCase(), anchored: m[1] === '^' };
}

function updateTargets(r: Rule, targets: TargetSpec[], replaced: string | undefined): void {
  if (replaced !== undefined) {
    const rep = replaced.toUpperCase();
    const idx = r.targets.findIndex((t) => `${t.name}${t.key !== undefined ? ':' + t.key.toUpperCase() : ''}` === rep);
    if (idx >= 0) r.targets.splice(idx, 1);
  }
  r.targets.push(...targets);
}

function emptyRule(pos: SourcePos): Rule {
  return {
    id: 0,
    phase: 2,
    file: pos.file,
    line: pos.line,
    marker: undefined,
    unconditional: false,
    targets: [],
    opName: 'unconditionalMatch',
    opParam: '',
    negated: false,
    op: () => true,
    transforms: [],
    tkey: '',
    tchain: 0,
    tids: new Int32Array(0),
    txSpec: undefined,
    folded: undefined,
    foldedMatches: [],
    foldedVars: [],
    literals: undefined,
    prefilter: undefined,
    cacheTargets: false,
    targetsKey: '',
    targetsIndex: -1,
    disruptive: undefined,
    status: undefined,
    redirectUrl: undefined,
    log: true,
    auditlog: true,
    msg: undefined,
    logdata: undefined,
    tags: [],
    severity: undefined,
    ver: undefined,
    rev: undefined,
    maturity: undefined,
    accuracy: undefined,
    capture: false,
    multiMatch: false,
    actions: [],
    skipAfter: undefined,
    skip: 0,
    allowScope: undefined,
    chain: undefined,
    chained: false,
    isLink: false,
  };
}

function parsePhase(v: string | undefined, pos: SourcePos): number {
  const named: Record<string, number> = { request: 2, response: 4, logging: 5 };
  const p = v === undefined ? Number.NaN : (named[v.toLowerCase()] ?? Number(v));
  if (!Number.isInteger(p) || p < 1 || p > 5) throw configError(pos, `bad phase "${v}"`);
  return p;
}

function buildRule(
  d: Directive,
  isAction: boolean,
  isLink: boolean,
  defaults: Map<number, Defaults>,
  readFile: (f: string) => string,
): Rule {
  const r = emptyRule(d);
  const actionText = isAction ? d.args[0]! : (d.args[2] ?? '');
  const acts = parseActions(actionText, d);
  if (isAction) {
    r.unconditional = true;
  } else {
    r.targets = compileTargets(parseVariables(d.args[0]!, d), d);
    let op = d.args[1]!;
    if (op.startsWith('!')) {
      r.negated = true;
      op = op.slice(1);
    }
    let opName = 'rx';
    let param = op;
    if (op.startsWith('@')) {
      const m = /^@([A-Za-z0-9_]+)(?:[ \t]+([\s\S]*))?$/.exec(op);
      if (!m) throw configError(d, `bad operator "${op}"`);
      opName = m[1]!;
      param = m[2] ?? '';
    }
    const impl = operators.get(opName.toLowerCase());
    if (!impl) throw configError(d, `unknown operator @${opName}`);
    r.opName = impl.name;
    r.opParam = param;
    try {
      const ctx = { dir: path.dirname(d.file), readFile };
      r.op = impl.compile(param, ctx);
      r.literals = impl.literals?.(param, ctx);
    } catch (e) {
      if ((e as { code?: unknown }).code === WAF_LIBINJECTION) throw e; // an install fault, not a config one
      throw configError(d, `@${opName}: ${(e as Error).message}`);
    }
  }
  // phase first: defaults depend on it (chain links take the starter's phase later)
  const ph = acts.filter((a) => a.name === 'phase').pop();
  if (ph) r.phase = parsePhase(ph.value, d);
  if (!isLink) {
    const def = defaults.get(r.phase);
    // default actions first, the rule's own actions override them
    const inherited = def
      ? def.actions
      : [
          { name: 'log', value: undefined },
          { name: 'auditlog', value: undefined },
          { name: 'pass', value: undefined },
        ];
    applyActions(r, inherited, d, false);
    r.transforms = r.transforms.slice();
  } else {
    // links carry no disruptive/logging defaults of their own
    r.log = false;
  }
  const defaultDisruptive = r.disruptive;
  applyActions(r, acts, d, false);
  r.tkey = r.transforms.map((t) => t.name).join(',');
  r.cacheTargets = r.targets.length > 0 && r.targets.every((t) => variables.get(t.name)?.volatile !== true);
  // `block` means "the phase's default disruptive action"
  if (r.disruptive === 'block') r.disruptive = defaultDisruptive === 'block' ? 'pass' : (defaultDisruptive ?? 'pass');
  return r;
}

function applyActions(r: Rule, acts: RawAction[], pos: SourcePos, update: boolean): void {
  const need = (a: RawAction): string => {
    if (a.value === undefined) throw configError(pos, `action ${a.name} needs a value`);
    return a.value;
  };
  if (update) r.actions = r.actions.slice();
  for (const a of acts) {
    switch (a.name) {
      case 'id': {
        const v = need(a);
        if (!/^\d+$/.test(v) || Number(v) === 0) throw configError(pos, `bad rule id "${v}"`);
        r.id = Number(v);
        break;
      }
      case 'phase':
        r.phase = parsePhase(a.value, pos);
        break;
      case 'chain':
        r.chained = true;
        break;
      case 't': {
        const v = need(a);
        if (v.toLowerCase() === 'none') {
          r.transforms = [];
          break;
        }
        const t: Transformation | undefined = transformations.get(v.toLowerCase());
        if (!t) throw configError(pos, `unknown transformation t:${v}`);
        r.transforms = [...r.transforms, t];
        break;
      }
      case 'pass':
      case 'block':
      case 'deny':
      case 'drop':
        r.disruptive = a.name as Disruptive;
        break;
      case 'allow':
        r.disruptive = 'allow';
        r.allowScope = a.value === undefined ? 'all' : a.value === 'phase' ? 'phase' : a.value === 'request' ? 'request' : 'all';
        break;
      case 'redirect':
        r.disruptive = 'redirect';
        r.redirectUrl = need(a);
        break;
      case 'proxy':
        throw configError(pos, 'action proxy is not supported');
      case 'status': {
        const v = Number(need(a));
        if (!Number.isInteger(v) || v < 100 || v > 999) throw configError(pos, `bad status "${a.value}"`);
        r.status = v;
        break;
      }
      case 'capture':
        r.capture = true;
        break;
      case 'multimatch':
        r.multiMatch = true;
        break;
      case 'log':
        r.log = true;
        break;
      case 'nolog':
        r.log = false;
        r.auditlog = false;
        break;
      case 'auditlog':
        r.auditlog = true;
        break;
      case 'noauditlog':
        r.auditlog = false;
        break;
      case 'msg':
        r.msg = need(a);
        break;
      case 'logdata':
        r.logdata = need(a);
        break;
      case 'tag':
        r.tags = [...r.tags, need(a)];
        break;
      case 'severity': {
        const v = need(a);
        const idx = /^\d$/.test(v) ? Number(v) : SEVERITIES.indexOf(v.toUpperCase());
        if (idx < 0 || idx > 7) throw configError(pos, `bad severity "${v}"`);
        r.severity = idx;
        break;
      }
      case 'ver':
        r.ver = need(a);
        break;
      case 'rev':
        r.rev = need(a);
        break;
      case 'maturity':
        r.maturity = need(a);
        break;
      case 'accuracy':
        r.accuracy = need(a);
        break;
      case 'setvar':
        r.actions.push(parseSetVar(need(a), pos));
        break;
      case 'expirevar': {
        const v = need(a);
        const m = /^([^.=]+)\.([^=]+)=(.*)$/s.exec(v);
        if (!m) throw configError(pos, `bad expirevar "${v}"`);
        r.actions.push({ kind: 'expirevar', collection: m[1]!.toLowerCase(), name: m[2]!, seconds: m[3]! });
        break;
      }
      case 'initcol': {
        const v = need(a);
        const eq = v.indexOf('=');
        if (eq < 1) throw configError(pos, `bad initcol "${v}"`);
        r.actions.push({ kind: 'initcol', collection: v.slice(0, eq).toLowerCase(), key: v.slice(eq + 1) });
        break;
      }
      case 'setsid':
        r.actions.push({ kind: 'initcol', collection: 'session', key: need(a) });
        break;
      case 'setuid':
        r.actions.push({ kind: 'initcol', collection: 'user', key: need(a) });
        break;
      case 'setenv': {
        const v = need(a);
        const eq = v.indexOf('=');
        r.actions.push({ kind: 'setenv', name: eq < 0 ? v : v.slice(0, eq), value: eq < 0 ? '1' : v.slice(eq + 1) });
        break;
      }
      case 'ctl':
        r.actions.push(parseCtl(need(a), pos));
        break;
      case 'skip': {
        const v = Number(need(a));
        if (!Number.isInteger(v) || v < 1) throw configError(pos, `bad skip "${a.value}"`);
        r.skip = v;
        break;
      }
      case 'skipafter':
        r.skipAfter = need(a);
        break;
      case 'sanitisearg':
      case 'sanitisematched':
      case 'sanitisematchedbytes':
      case 'sanitiserequestheader':
      case 'sanitiseresponseheader':
      case 'sanitizearg':
      case 'sanitizematched':
      case 'sanitizematchedbytes':
      case 'sanitizerequestheader':
      case 'sanitizeresponseheader':
      case 'xmlns':
      case 'append':
      case 'prepend':
      case 'pause':
      case 'deprecatevar':
        // audit-log/content-injection actions with no effect on detection
        break;
      case 'exec':
        throw configError(pos, 'action exec is not supported');
      default:
        throw configError(pos, `unknown action ${a.name}`);
    }
  }
}

function parseSetVar(v: string, pos: SourcePos): NdAction {
  const a = parseSetVarText(v, pos);
  if (a.kind === 'setvar' && a.collection === 'tx' && !a.name.includes('%{')) {
    a.txKey = a.name.toLowerCase();
    if (a.op === 'set' && !a.value.includes('%{')) a.txEntry = { name: a.name, value: a.value, target: undefined };
  }
  return a;
}

function parseSetVarText(v: string, pos: SourcePos): NdAction {
  let s = v;
  let del = false;
  if (s.startsWith('!')) {
    del = true;
    s = s.slice(1);
  }
  const dot = s.indexOf('.');
  if (dot < 1) throw configError(pos, `bad setvar "${v}"`);
  const collection = s.slice(0, dot).toLowerCase();
  const rest = s.slice(dot + 1);
  if (del) return { kind: 'setvar', collection, name: rest, op: 'delete', value: '' };
  const eq = rest.indexOf('=');
  if (eq < 0) return { kind: 'setvar', collection, name: rest, op: 'set', value: '1' };
  const name = rest.slice(0, eq);
  const after = rest.slice(eq + 1);
  if (after.startsWith('+')) return { kind: 'setvar', collection, name, op: 'add', value: after.slice(1) };
  if (after.startsWith('-')) return { kind: 'setvar', collection, name, op: 'sub', value: after.slice(1) };
  return { kind: 'setvar', collection, name, op: 'set', value: after };
}

const CTLS = new Set([
  'ruleengine',
  'requestbodyaccess',
  'requestbodylimit',
  'requestbodyprocessor',
  'responsebodyaccess',
  'responsebodylimit',
  'forcerequestbodyvariable',
  'auditengine',
  'auditlogparts',
  'ruleremovebyid',
  'ruleremovebytag',
  'ruleremovebymsg',
  'ruleremovetargetbyid',
  'ruleremovetargetbytag',
  'ruleremovetargetbymsg',
  'debugloglevel',
  'hashengine',
  'hashenforcement',
]);

function parseCtl(v: string, pos: SourcePos): NdAction {
  const eq = v.indexOf('=');
  if (eq < 1) throw configError(pos, `bad ctl "${v}"`);
  const name = v.slice(0, eq).toLowerCase();
  const value = v.slice(eq + 1);
  if (!CTLS.has(name)) throw configError(pos, `unknown ctl ${v.slice(0, eq)}`);
  let targets: TargetSpec[] = [];
  if (name.startsWith('ruleremovetargetby')) {
    const semi = value.indexOf(';');
    if (semi < 0) throw configError(pos, `ctl:${v.slice(0, eq)} needs "selector;TARGET"`);
    targets = compileTargets(parseVariables(value.slice(semi + 1), pos), pos);
    if (name === 'ruleremovetargetbyid') idMatcher(value.slice(0, semi), pos);
  } else if (name === 'ruleremovebyid') {
    idMatcher(value, pos);
  }
  return { kind: 'ctl', name, value, targets };
}
