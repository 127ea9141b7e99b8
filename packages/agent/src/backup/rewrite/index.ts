/**
 * Data rewriting for clone and staging: URL replacement that is safe for PHP-serialized data,
 * applied to a mariadb-dump stream, plus the WooCommerce-safe table list for pushes.
 *
 * Typical use (clone to a new domain):
 *   const rw = createDumpRewriter({ pairs: urlReplaceRules(oldUrl, newUrl) });
 *   await pipeline(dumpStdout, rw, mariadbStdin);
 *   rw.stats // { replacements, malformed, opaque, literals, changedLiterals, … }
 *
 * Push staging → production (WooCommerce-safe default):
 *   const skip = new Set(wooSafeSkipTables(tables, prefix));
 *   createDumpRewriter({ pairs: urlReplaceRules(stagingUrl, prodUrl), skipTables: skip });
 */
export {
  compileReplacer,
  fromBytes,
  newRewriteStats,
  type ReplacePair,
  type ReplaceRule,
  Replacer,
  type RewriteStats,
  toBytes,
} from './replacer.ts';
export { looksSerialized, MAX_SERIALIZED_DEPTH, replaceInPhpBytes, replaceInPhpValue } from './serialized.ts';
export {
  createDumpRewriter,
  DEFAULT_MAX_LITERAL_BYTES,
  type DumpRewriteOptions,
  DumpRewriter,
  type DumpRewriteStats,
  escapeSqlBytes,
  unescapeSqlBytes,
} from './sql-dump.ts';
export { urlReplaceRules } from './url-pairs.ts';
export {
  ACTION_SCHEDULER_TABLES,
  hasWooCommerce,
  type ProtectedReason,
  type TablePlan,
  WOO_CONTENT_TABLES,
  WOO_CUSTOMER_TABLES,
  WOO_INTEGRATION_TABLES,
  WOO_ORDER_TABLES,
  WOO_PAYMENT_TABLES,
  WOO_SESSION_TABLES,
  type WooSafeOptions,
  WP_USER_TABLES,
  wooSafeSkipTables,
  wooSafeTablePlan,
} from './woo-safe.ts';
