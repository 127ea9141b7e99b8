export { type Directive, type ReadOptions, readConfigFile, readConfigText } from './config/reader.ts';
export { type AuditRecord, auditRecord, isRelevant } from './engine/audit.ts';
export { type CollectionStore, MemoryCollectionStore } from './engine/collections.ts';
export { compileRuleSet } from './engine/compile.ts';
export { formatLogLine, logEscape } from './engine/log.ts';
export type { EngineMode, Rule, RuleSet } from './engine/model.ts';
export type { Intervention, MatchEvent, RequestInput, ResponseInput, Transaction } from './engine/transaction.ts';
export { Waf, type WafOptions } from './engine/waf.ts';
export { WAF_CONFIG } from './errors.ts';
export {
  heuristicDetectorNotLibinjection,
  type InjectionDetector,
  injectionDetector,
  libinjectionDetector,
  setInjectionDetector,
  useLibinjectionLibrary,
  WAF_LIBINJECTION,
} from './libinjection/index.ts';
