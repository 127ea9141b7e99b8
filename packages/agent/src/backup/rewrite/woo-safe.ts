/**
 * Which tables a staging → production push must NOT overwrite by default.
 *
 * Table names come from WooCommerce's own WC_Install::get_tables() and get_schema()
 * (includes/class-wc-install.php) and WordPress core; all are `${prefix}${suffix}`.
 *
 * Decision — the default database push is "settings, not store activity":
 *  - Never by default: orders (HPOS and their analytics lookups), customers (WordPress users
 *    are the customer accounts), sessions/carts, payment tokens, download grants, stock held
 *    by open checkouts, API keys and webhooks (production integrations), and Action
 *    Scheduler's queue (pending order e-mails, webhooks, renewals).
 *  - Content tables (posts, postmeta, comments, terms and the product lookups built from them)
 *    are NOT pushed by default on a WooCommerce site: legacy (non-HPOS) orders are
 *    `shop_order` posts with their data in postmeta, order notes are comments, and even with
 *    HPOS compatibility mode keeps placeholder posts. Overwriting them loses production
 *    orders. The terms tables go with posts because term_relationships points at post ids.
 *    `includeContent: true` pushes them anyway — only sensible when the store takes no orders
 *    or HPOS is authoritative with sync off; the caller must make that an explicit choice.
 *  - Everything else (options, WooCommerce settings tables such as tax rates and shipping
 *    zones, other plugins' tables) is pushed. A plain WordPress site (no WooCommerce tables)
 *    keeps only its users/usermeta protected (accounts and passwords changed on production).
 *  Files are handled by the executor, not here.
 *
 * Multisite: pass the blog's own prefix (`wp_2_`) per blog; users/usermeta live under the
 * network prefix and are protected only when that prefix is passed.
 *
 * Example:
 *   wooSafeSkipTables(['wp_options', 'wp_posts', 'wp_wc_orders', 'wp_users'], 'wp_')
 *   // → ['wp_posts', 'wp_wc_orders', 'wp_users']
 */

export type ProtectedReason =
  | 'orders'
  | 'customers'
  | 'sessions'
  | 'payments'
  | 'integrations'
  | 'scheduler'
  | 'content'
  | 'users';

/** Orders: HPOS tables, order items, fulfillments, and the analytics lookups built from orders. */
export const WOO_ORDER_TABLES = [
  'wc_orders',
  'wc_order_addresses',
  'wc_order_operational_data',
  'wc_orders_meta',
  'woocommerce_order_items',
  'woocommerce_order_itemmeta',
  'wc_order_stats',
  'wc_order_product_lookup',
  'wc_order_tax_lookup',
  'wc_order_coupon_lookup',
  'wc_order_fulfillments',
  'wc_order_fulfillment_meta',
  'wc_reserved_stock',
] as const;

/** Customer data beyond the user accounts themselves. */
export const WOO_CUSTOMER_TABLES = [
  'wc_customer_lookup',
  'woocommerce_downloadable_product_permissions',
  'wc_download_log',
  'wc_stock_notifications',
  'wc_stock_notificationmeta',
] as const;

export const WOO_SESSION_TABLES = ['woocommerce_sessions', 'wc_rate_limits'] as const;

export const WOO_PAYMENT_TABLES = ['woocommerce_payment_tokens', 'woocommerce_payment_tokenmeta'] as const;

/** Production integrations: REST API keys and webhook endpoints. */
export const WOO_INTEGRATION_TABLES = ['woocommerce_api_keys', 'wc_webhooks'] as const;

/** Action Scheduler's queue (WooCommerce bundles it; other plugins share it). */
export const ACTION_SCHEDULER_TABLES = [
  'actionscheduler_actions',
  'actionscheduler_claims',
  'actionscheduler_groups',
  'actionscheduler_logs',
] as const;

/** WordPress accounts: customers on a store, users on any site. */
export const WP_USER_TABLES = ['users', 'usermeta'] as const;

/** Content that holds legacy orders (posts/postmeta), order notes (comments) and what points into posts. */
export const WOO_CONTENT_TABLES = [
  'posts',
  'postmeta',
  'comments',
  'commentmeta',
  'terms',
  'termmeta',
  'term_taxonomy',
  'term_relationships',
  'wc_product_meta_lookup',
  'wc_product_attributes_lookup',
  'wc_category_lookup',
] as const;

const GROUPS: ReadonlyArray<readonly [ProtectedReason, ReadonlyArray<string>]> = [
  ['orders', WOO_ORDER_TABLES],
  ['customers', WOO_CUSTOMER_TABLES],
  ['sessions', WOO_SESSION_TABLES],
  ['payments', WOO_PAYMENT_TABLES],
  ['integrations', WOO_INTEGRATION_TABLES],
  ['scheduler', ACTION_SCHEDULER_TABLES],
  ['users', WP_USER_TABLES],
  ['content', WOO_CONTENT_TABLES],
];

export interface WooSafeOptions {
  /** Also push the content tables (posts, postmeta, comments, terms, product lookups). Default false. */
  includeContent?: boolean;
  /** Also push users/usermeta. Default false. */
  includeUsers?: boolean;
}

/** Is WooCommerce installed under this prefix (any of its own tables present)? */
export function hasWooCommerce(allTables: ReadonlyArray<string>, prefix: string): boolean {
  return allTables.some((t) => t.startsWith(`${prefix}woocommerce_`) || t === `${prefix}wc_orders`);
}

export interface TablePlan {
  /** tables the push writes */
  push: string[];
  /** tables the push leaves alone on the target, with why */
  skip: Array<{ table: string; reason: ProtectedReason }>;
  wooCommerce: boolean;
}

/** The default push plan for these tables (input order kept). */
export function wooSafeTablePlan(allTables: ReadonlyArray<string>, prefix: string, opts: WooSafeOptions = {}): TablePlan {
  const woo = hasWooCommerce(allTables, prefix);
  const reasonOf = new Map<string, ProtectedReason>();
  for (const [reason, suffixes] of GROUPS) {
    if (reason === 'users' && opts.includeUsers) continue;
    if (reason === 'content' && (opts.includeContent || !woo)) continue;
    for (const s of suffixes) reasonOf.set(prefix + s, reason);
  }
  const plan: TablePlan = { push: [], skip: [], wooCommerce: woo };
  for (const t of allTables) {
    const reason = reasonOf.get(t);
    if (reason) plan.skip.push({ table: t, reason });
    else plan.push.push(t);
  }
  return plan;
}

/** Tables (of allTables) a default push must not overwrite — feed to createDumpRewriter's skipTables. */
export function wooSafeSkipTables(allTables: ReadonlyArray<string>, prefix: string, opts: WooSafeOptions = {}): string[] {
  return wooSafeTablePlan(allTables, prefix, opts).skip.map((s) => s.table);
}
