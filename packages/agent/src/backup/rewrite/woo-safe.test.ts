import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { createDumpRewriter } from './sql-dump.ts';
import { hasWooCommerce, WOO_ORDER_TABLES, wooSafeSkipTables, wooSafeTablePlan } from './woo-safe.ts';

// The tables of a WordPress + WooCommerce 9.x install (HPOS), as SHOW TABLES lists them.
const WOO_SITE = [
  'shop_actionscheduler_actions',
  'shop_actionscheduler_claims',
  'shop_actionscheduler_groups',
  'shop_actionscheduler_logs',
  'shop_commentmeta',
  'shop_comments',
  'shop_links',
  'shop_options',
  'shop_postmeta',
  'shop_posts',
  'shop_term_relationships',
  'shop_term_taxonomy',
  'shop_termmeta',
  'shop_terms',
  'shop_usermeta',
  'shop_users',
  'shop_wc_admin_note_actions',
  'shop_wc_admin_notes',
  'shop_wc_category_lookup',
  'shop_wc_customer_lookup',
  'shop_wc_download_log',
  'shop_wc_order_addresses',
  'shop_wc_order_coupon_lookup',
  'shop_wc_order_operational_data',
  'shop_wc_order_product_lookup',
  'shop_wc_order_stats',
  'shop_wc_order_tax_lookup',
  'shop_wc_orders',
  'shop_wc_orders_meta',
  'shop_wc_product_attributes_lookup',
  'shop_wc_product_download_directories',
  'shop_wc_product_meta_lookup',
  'shop_wc_rate_limits',
  'shop_wc_reserved_stock',
  'shop_wc_tax_rate_classes',
  'shop_wc_webhooks',
  'shop_woocommerce_api_keys',
  'shop_woocommerce_attribute_taxonomies',
  'shop_woocommerce_downloadable_product_permissions',
  'shop_woocommerce_log',
  'shop_woocommerce_order_itemmeta',
  'shop_woocommerce_order_items',
  'shop_woocommerce_payment_tokenmeta',
  'shop_woocommerce_payment_tokens',
  'shop_woocommerce_sessions',
  'shop_woocommerce_shipping_zone_locations',
  'shop_woocommerce_shipping_zone_methods',
  'shop_woocommerce_shipping_zones',
  'shop_woocommerce_tax_rate_locations',
  'shop_woocommerce_tax_rates',
  'shop_yoast_indexable',
];

describe('wooSafeSkipTables', () => {
  it('protects orders, customers, sessions, payments, integrations, the job queue and content on a store', () => {
    const plan = wooSafeTablePlan(WOO_SITE, 'shop_');
    assert.equal(plan.wooCommerce, true);
    assert.deepEqual(plan.push, [
      'shop_links',
      'shop_options',
      'shop_wc_admin_note_actions',
      'shop_wc_admin_notes',
      'shop_wc_product_download_directories',
      'shop_wc_tax_rate_classes',
      'shop_woocommerce_attribute_taxonomies',
      'shop_woocommerce_log',
      'shop_woocommerce_shipping_zone_locations',
      'shop_woocommerce_shipping_zone_methods',
      'shop_woocommerce_shipping_zones',
      'shop_woocommerce_tax_rate_locations',
      'shop_woocommerce_tax_rates',
      'shop_yoast_indexable',
    ]);
    const reason = Object.fromEntries(plan.skip.map((s) => [s.table, s.reason]));
    assert.equal(reason.shop_wc_orders, 'orders');
    assert.equal(reason.shop_woocommerce_order_itemmeta, 'orders');
    assert.equal(reason.shop_users, 'users');
    assert.equal(reason.shop_wc_customer_lookup, 'customers');
    assert.equal(reason.shop_woocommerce_sessions, 'sessions');
    assert.equal(reason.shop_woocommerce_payment_tokens, 'payments');
    assert.equal(reason.shop_woocommerce_api_keys, 'integrations');
    assert.equal(reason.shop_actionscheduler_actions, 'scheduler');
    assert.equal(reason.shop_posts, 'content', 'legacy orders are shop_order posts');
    assert.equal(reason.shop_comments, 'content', 'order notes are comments');
    // every HPOS/order table that exists is protected
    for (const t of WOO_ORDER_TABLES) if (WOO_SITE.includes(`shop_${t}`)) assert.ok(`shop_${t}` in reason, t);
  });

  it('pushes content only when asked, and users only when asked', () => {
    const withContent = wooSafeSkipTables(WOO_SITE, 'shop_', { includeContent: true });
    assert.ok(!withContent.includes('shop_posts'));
    assert.ok(withContent.includes('shop_wc_orders'));
    assert.ok(withContent.includes('shop_users'));
    assert.ok(!wooSafeSkipTables(WOO_SITE, 'shop_', { includeUsers: true }).includes('shop_users'));
  });

  it('keeps only accounts protected on a site without WooCommerce, and matches the prefix exactly', () => {
    const wp = ['wp_options', 'wp_posts', 'wp_postmeta', 'wp_users', 'wp_usermeta', 'wp_2_users', 'other_users'];
    assert.equal(hasWooCommerce(wp, 'wp_'), false);
    assert.deepEqual(wooSafeSkipTables(wp, 'wp_'), ['wp_users', 'wp_usermeta']);
    assert.deepEqual(wooSafeSkipTables(WOO_SITE, 'wp_'), []);
  });

  it('drives the dump filter: none of the protected tables reach the target', async () => {
    const dump = WOO_SITE.map(
      (t) =>
        `--\n-- Table structure for table \`${t}\`\n--\n\nDROP TABLE IF EXISTS \`${t}\`;\nCREATE TABLE \`${t}\` (id int);\n\n` +
        `--\n-- Dumping data for table \`${t}\`\n--\n\nLOCK TABLES \`${t}\` WRITE;\nINSERT INTO \`${t}\` VALUES (1);\nUNLOCK TABLES;\n\n`,
    ).join('');
    const skip = new Set(wooSafeSkipTables(WOO_SITE, 'shop_'));
    const rw = createDumpRewriter({ skipTables: skip });
    const out: Buffer[] = [];
    for await (const c of Readable.from([Buffer.from(dump)]).pipe(rw)) out.push(c as Buffer);
    const text = Buffer.concat(out).toString();
    for (const t of WOO_SITE) {
      assert.equal(text.includes(`INSERT INTO \`${t}\``), !skip.has(t), t);
      assert.equal(text.includes(`DROP TABLE IF EXISTS \`${t}\``), !skip.has(t), t);
    }
    assert.deepEqual([...rw.stats.droppedTables].sort(), [...skip].sort());
  });
});
