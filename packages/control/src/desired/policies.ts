import type { CachePolicy, EnvironmentPolicies, HealthCheck, RatePolicy, SiteKind, WafPolicy } from '@triplane/spec';

/**
 * Default edge policies per site kind. Values are starting points an operator can later
 * override per environment; each one says why it is what it is.
 */

const TRACKING_PARAMS = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content', 'gclid', 'fbclid', 'msclkid'];

const WORDPRESS_CACHE: CachePolicy = {
  enabled: true,
  profile: 'wordpress',
  // Short HTML TTL plus grace: pages stay fresh after edits without purge wiring, and a
  // stampede after expiry is absorbed by serving stale while one request revalidates.
  defaultTtlS: 300,
  staticTtlS: 86400,
  graceS: 3600,
  bypassPaths: ['/wp-admin', '/wp-login.php', '/wp-cron.php', '/xmlrpc.php', '/wp-json', '/preview'],
  // Logged-in users, password-protected posts and commenters see personalised pages.
  bypassCookies: ['wordpress_logged_in_', 'wordpress_sec_', 'wp-postpass_', 'comment_author_'],
  ignoreQueryParams: TRACKING_PARAMS,
  honorOriginCacheControl: true,
};

const WOOCOMMERCE_CACHE: CachePolicy = {
  ...WORDPRESS_CACHE,
  profile: 'woocommerce',
  bypassPaths: [...WORDPRESS_CACHE.bypassPaths, '/cart', '/checkout', '/my-account', '/?wc-ajax=', '/wc-api'],
  // A non-empty cart makes every page personal (mini-cart, prices with coupons).
  bypassCookies: [
    ...WORDPRESS_CACHE.bypassCookies,
    'woocommerce_items_in_cart',
    'woocommerce_cart_hash',
    'wp_woocommerce_session_',
  ],
};

const MAGENTO_CACHE: CachePolicy = {
  enabled: true,
  profile: 'magento',
  // Magento's own full-page cache tags and purges; a longer TTL is safe behind it.
  defaultTtlS: 3600,
  staticTtlS: 604800,
  graceS: 3600,
  bypassPaths: ['/admin', '/checkout', '/customer', '/sales', '/wishlist', '/rest', '/graphql', '/paypal'],
  bypassCookies: ['admin', 'private_content_version'],
  ignoreQueryParams: TRACKING_PARAMS,
  honorOriginCacheControl: true,
};

const GENERIC_CACHE: CachePolicy = {
  enabled: true,
  profile: 'generic',
  // Plain PHP apps: nothing is assumed cacheable; only what the origin marks cacheable is.
  defaultTtlS: 0,
  staticTtlS: 86400,
  graceS: 60,
  bypassPaths: [],
  bypassCookies: ['PHPSESSID'],
  ignoreQueryParams: TRACKING_PARAMS,
  honorOriginCacheControl: true,
};

export function defaultCachePolicy(kind: SiteKind | string): CachePolicy {
  switch (kind) {
    case 'wordpress':
      return WORDPRESS_CACHE;
    case 'woocommerce':
      return WOOCOMMERCE_CACHE;
    case 'magento':
      return MAGENTO_CACHE;
    default:
      return GENERIC_CACHE;
  }
}

export function defaultWafPolicy(kind: SiteKind | string, uploadMaxMb: number): WafPolicy {
  return {
    enabled: true,
    mode: 'block',
    // CRS paranoia level 1 with the default anomaly thresholds: the level CRS recommends for
    // sites without per-site tuning, with very few false positives.
    paranoiaLevel: 1,
    inboundAnomalyThreshold: 5,
    outboundAnomalyThreshold: 4,
    exclusionProfiles: kind === 'wordpress' || kind === 'woocommerce' ? ['wordpress'] : kind === 'magento' ? ['magento'] : [],
    // Bodies up to the PHP upload limit plus multipart overhead reach the site; bigger ones
    // would be refused by PHP anyway.
    maxRequestBodyBytes: uploadMaxMb * 1024 * 1024 + 1024 * 1024,
  };
}

export function defaultRatePolicy(kind: SiteKind | string): RatePolicy {
  const rules: RatePolicy['rules'] = [];
  if (kind === 'wordpress' || kind === 'woocommerce') {
    // Password guessing and XML-RPC amplification are the common attacks on WordPress.
    rules.push({ pathPrefix: '/wp-login.php', methods: ['POST'], requestsPerMinute: 10, burst: 5 });
    rules.push({ pathPrefix: '/xmlrpc.php', methods: [], requestsPerMinute: 10, burst: 0 });
  }
  if (kind === 'woocommerce') rules.push({ pathPrefix: '/checkout', methods: ['POST'], requestsPerMinute: 30, burst: 10 });
  if (kind === 'magento') {
    rules.push({ pathPrefix: '/customer/account/loginPost', methods: ['POST'], requestsPerMinute: 10, burst: 5 });
    rules.push({ pathPrefix: '/admin', methods: ['POST'], requestsPerMinute: 20, burst: 5 });
  }
  // 50 r/s per client IP with a burst of 100 covers a browser loading a page with its assets.
  return { requestsPerSecond: 50, burst: 100, rules };
}

export function defaultPolicies(environmentId: string, kind: SiteKind | string, uploadMaxMb: number): EnvironmentPolicies {
  return {
    environmentId,
    cache: defaultCachePolicy(kind),
    waf: defaultWafPolicy(kind, uploadMaxMb),
    rate: defaultRatePolicy(kind),
  };
}

/** Health checks every 5 s; 2 failures mark a member down, 2 successes bring it back. */
export function defaultHealthCheck(host: string | null): HealthCheck {
  return {
    path: '/',
    host,
    intervalMs: 5000,
    timeoutMs: 2000,
    healthyThreshold: 2,
    unhealthyThreshold: 2,
    expectStatusMin: 200,
    expectStatusMax: 499,
  };
}
