/** Compiled rule set: immutable data built once per configuration (see compile.ts). */
import type { Arg } from '../body/types.ts';
import type { VarSpec } from '../config/parse-variables.ts';
import type { OperatorFn } from '../operators/registry.ts';
import type { CompiledPcre } from '../regex/compile.ts';
import type { Transformation } from '../transformations/registry.ts';
import type { Variable } from '../variables/registry.ts';
import type { PrefilterPair, RulePrefilter } from './prefilter-groups.ts';
import type { Target } from './targets.ts';
import type { Entry } from './transaction.ts';

export type EngineMode = 'On' | 'Off' | 'DetectionOnly';
export type Disruptive = 'pass' | 'block' | 'deny' | 'drop' | 'allow' | 'redirect';

export interface TargetSpec extends VarSpec {
  /** compiled selector (case-insensitive), when keyRegex is set */
  re: CompiledPcre | undefined;
  /**
   * when keyRegex is a plain ASCII literal (`^HEADER_NAME_`, `MSC_`, `TYPES_*`): that literal
   * lower-cased, and whether it is anchored; keys are then compared without the regex (targets.ts)
   */
  keyLiteral: { text: string; anchored: boolean } | undefined;
  /** key lower-cased, when key is set */
  lkey: string | undefined;
  /** identity of the selection, for the per-transaction target cache */
  cacheKey: string;
  /** number of cacheKey in the rule set (Transaction.targetCache), -1 when not selected by a rule */
  index: number;
  /** the variable, resolved at compile time */
  variable: Variable;
  /** &TX:key: the targets for "absent" and "present" (built once, see compile.ts) */
  countTargets?: [Target, Target];
}

export type SetVarOp = 'set' | 'add' | 'sub' | 'delete';

export type NdAction =
  | {
      kind: 'setvar';
      collection: string;
      name: string;
      op: SetVarOp;
      value: string;
      /**
       * TX with a name without macros: the lower-cased name, and for `set` with a value without
       * macros the entry to store, shared by every transaction (entries are replaced, never changed)
       */
      txKey?: string | undefined;
      txEntry?: Entry | undefined;
    }
  | { kind: 'expirevar'; collection: string; name: string; seconds: string }
  | { kind: 'initcol'; collection: string; key: string }
  | { kind: 'ctl'; name: string; value: string; targets: TargetSpec[] }
  | { kind: 'setenv'; name: string; value: string };

export interface Rule {
  /** 0 for chain links and markers without id */
  id: number;
  phase: number;
  file: string;
  line: number;
  /** SecMarker name: a marker evaluates nothing, it is a skipAfter target */
  marker: string | undefined;
  /** SecAction: no targets, always matches */
  unconditional: boolean;
  targets: TargetSpec[];
  opName: string;
  opParam: string;
  negated: boolean;
  op: OperatorFn;
  transforms: Transformation[];
  /** literals one of which a match requires (Operator.literals), if known */
  literals: string[] | undefined;
  /** rule-level prefilter (prefilter-groups.ts) */
  prefilter: RulePrefilter | undefined;
  /** no target is volatile (TX, MATCHED_VAR…): targets can be cached for the phase */
  cacheTargets: boolean;
  /** identity of the target list (exclusions included), for sharing cached targets */
  targetsKey: string;
  /** number of targetsKey in the rule set (Transaction.sharedTargetCache) */
  targetsIndex: number;
  /** identity of the transformation chain (names joined by `,`) */
  tkey: string;
  /** index of the chain in RuleSet.chains (per-transaction transformation cache) */
  tchain: number;
  /** index of each transformation in the registry (per-transaction identity cache) */
  tids: Int32Array;
  /** the rule's only target is TX:key or &TX:key (fast path in evaluate.ts), else undefined */
  txSpec: TargetSpec | undefined;
  /**
   * Compile-time folding (fold.ts): 'never' = cannot match in any transaction, 'always' = matches
   * in every transaction on exactly `foldedMatches` (display name and transformed value).
   */
  folded: 'always' | 'never' | undefined;
  foldedMatches: Target[];
  /** MATCHED_VAR(S) entries of foldedMatches, shared by every transaction (never changed) */
  foldedVars: Arg[];
  disruptive: Disruptive | undefined;
  status: number | undefined;
  redirectUrl: string | undefined;
  log: boolean;
  auditlog: boolean;
  msg: string | undefined;
  logdata: string | undefined;
  tags: string[];
  severity: number | undefined;
  ver: string | undefined;
  rev: string | undefined;
  maturity: string | undefined;
  accuracy: string | undefined;
  capture: boolean;
  multiMatch: boolean;
  actions: NdAction[];
  skipAfter: string | undefined;
  skip: number;
  allowScope: 'all' | 'phase' | 'request' | undefined;
  /** next link of the chain, if any */
  chain: Rule | undefined;
  /** this rule says `chain`: the next SecRule is its link */
  chained: boolean;
  /** this rule is a link (not the chain starter) */
  isLink: boolean;
}

export interface EngineSettings {
  ruleEngine: EngineMode;
  requestBodyAccess: boolean;
  responseBodyAccess: boolean;
  requestBodyLimit: number;
  requestBodyNoFilesLimit: number;
  requestBodyLimitAction: 'Reject' | 'ProcessPartial';
  responseBodyLimit: number;
  responseBodyLimitAction: 'Reject' | 'ProcessPartial';
  responseBodyMimeTypes: string[];
  argumentsLimit: number;
  jsonDepthLimit: number;
  argumentSeparator: string;
  collectionTimeout: number;
  componentSignatures: string[];
  /** ModSecurity 2's default is 1500; kept for reference (V8 guards backtracking instead) */
  pcreMatchLimit: number;
  auditEngine: string;
  auditLogParts: string;
}

export interface RuleSet {
  settings: EngineSettings;
  /** phases[1..5]: chain starters and markers, in configuration order */
  phases: Rule[][];
  /** every chain starter by id */
  byId: Map<number, Rule>;
  /** number of SecRule/SecAction directives (chain links included) */
  ruleCount: number;
  /** transformation chains by index (Rule.tchain) */
  chains: string[];
  /** number of distinct target selections (TargetSpec.index) and target lists (Rule.targetsIndex) */
  targetSpecs: number;
  targetLists: number;
  /** number of prefilter chains and groups, and the (chain, target) pairs groups read (prefilter-groups.ts) */
  prefilterChains: number;
  prefilterGroups: number;
  prefilterPairs: PrefilterPair[];
  /** what compile-time folding did (fold.ts), for tests and the benchmark */
  foldStats: { always: number; never: number; dead: number };
}

export const SEVERITIES = ['EMERGENCY', 'ALERT', 'CRITICAL', 'ERROR', 'WARNING', 'NOTICE', 'INFO', 'DEBUG'];
