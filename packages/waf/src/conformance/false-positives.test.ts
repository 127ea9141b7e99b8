/**
 * False-positive suite: ordinary WordPress and WooCommerce traffic must pass CRS at paranoia
 * level 1 in blocking mode, with CRS's WordPress exclusions on (as the edge will do for
 * WordPress sites).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import type { RequestInput } from '../engine/transaction.ts';
import { Waf } from '../engine/waf.ts';

const CRS = '/usr/share/modsecurity-crs/rules';
const CONFIG = `
SecRuleEngine On
SecRequestBodyAccess On
SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRequestBodyLimit 13107200
SecRequestBodyNoFilesLimit 131072
SecAction "id:900130,phase:1,nolog,pass,t:none,setvar:tx.crs_exclusions_wordpress=1"
Include /etc/modsecurity/crs/crs-setup.conf
Include ${CRS}/*.conf
`;

const UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const COOKIE =
  'wordpress_logged_in_5c0f=admin%7C1735689600%7CkJ3x%7Cabc123; wp-settings-1=libraryContent%3Dbrowse; woocommerce_cart_hash=0a1b2c';

function r(method: string, uri: string, extra: Array<[string, string]> = [], body?: string): RequestInput {
  return {
    method,
    uri,
    protocol: 'HTTP/1.1',
    headers: [
      ['Host', 'shop.example.com'],
      ['User-Agent', UA],
      ['Accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'],
      ['Accept-Language', 'en-US,en;q=0.9'],
      ['Accept-Encoding', 'gzip, deflate, br'],
      ['Cookie', COOKIE],
      ...extra,
      ...(body !== undefined ? ([['Content-Length', String(body.length)]] as Array<[string, string]>) : []),
    ],
    ...(body !== undefined ? { body } : {}),
    remoteAddr: '198.51.100.7',
    uniqueId: 'fp',
  };
}
const form = (o: Record<string, string>) => new URLSearchParams(o).toString();
const FORM: Array<[string, string]> = [['Content-Type', 'application/x-www-form-urlencoded']];

const TRAFFIC: Array<[string, RequestInput]> = [
  ['home page', r('GET', '/')],
  ['product listing with 5 args', r('GET', '/shop/?orderby=price&paged=2&min_price=10&max_price=200&product_cat=shoes')],
  ['search', r('GET', '/?s=red+running+shoes&post_type=product')],
  [
    'login',
    r(
      'POST',
      '/wp-login.php',
      FORM,
      form({
        log: 'admin',
        pwd: 'S3cr3t!pass',
        'wp-submit': 'Log In',
        redirect_to: 'https://shop.example.com/wp-admin/',
        testcookie: '1',
      }),
    ),
  ],
  [
    'admin post edit with HTML',
    r(
      'POST',
      '/wp-admin/post.php',
      FORM,
      form({
        _wpnonce: 'a1b2c3d4e5',
        action: 'editpost',
        post_ID: '42',
        post_title: 'Summer sale',
        content:
          '<p>Our <strong>summer sale</strong> starts today. <a href="https://shop.example.com/sale/">See offers</a></p><img src="/wp-content/uploads/2026/06/banner.jpg" alt="banner">',
      }),
    ),
  ],
  [
    'REST API JSON',
    r(
      'POST',
      '/wp-json/wp/v2/posts/42',
      [
        ['Content-Type', 'application/json'],
        ['X-WP-Nonce', 'a1b2c3d4e5'],
      ],
      JSON.stringify({ title: 'Summer sale', status: 'publish', content: '<p>Hello <em>world</em></p>' }),
    ),
  ],
  [
    'add to cart (ajax)',
    r('POST', '/?wc-ajax=add_to_cart', FORM, form({ product_sku: 'SHOE-42', product_id: '1234', quantity: '2' })),
  ],
  [
    'checkout form',
    r(
      'POST',
      '/?wc-ajax=checkout',
      FORM,
      form({
        billing_first_name: 'Anne-Marie',
        billing_last_name: "O'Neil",
        billing_company: 'Smith & Sons',
        billing_country: 'IE',
        billing_address_1: '12 Main Street, Apt. 4',
        billing_city: 'Dublin',
        billing_postcode: 'D02 X285',
        billing_phone: '+353 1 234 5678',
        billing_email: 'anne@example.com',
        order_comments: 'Please leave the parcel at the door - thanks!',
        payment_method: 'stripe',
        'woocommerce-process-checkout-nonce': 'f00ba7',
        _wp_http_referer: '/?wc-ajax=update_order_review',
      }),
    ),
  ],
  [
    'media upload',
    r(
      'POST',
      '/wp-admin/async-upload.php',
      [['Content-Type', 'multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW']],
      [
        '------WebKitFormBoundary7MA4YWxkTrZu0gW',
        'Content-Disposition: form-data; name="name"',
        '',
        'banner.jpg',
        '------WebKitFormBoundary7MA4YWxkTrZu0gW',
        'Content-Disposition: form-data; name="action"',
        '',
        'upload-attachment',
        '------WebKitFormBoundary7MA4YWxkTrZu0gW',
        'Content-Disposition: form-data; name="async-upload"; filename="banner.jpg"',
        'Content-Type: image/jpeg',
        '',
        '\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xdb',
        '------WebKitFormBoundary7MA4YWxkTrZu0gW--',
        '',
      ].join('\r\n'),
    ),
  ],
];

test('ordinary WordPress/WooCommerce traffic passes CRS PL1 in blocking mode', {
  skip: !fs.existsSync(CRS) && 'modsecurity-crs missing',
}, () => {
  const waf = Waf.fromText(CONFIG, '/etc/triplane/waf-fp.conf');
  const blocked: string[] = [];
  for (const [name, req] of TRAFFIC) {
    const lines: string[] = [];
    const tx = waf.transaction(req, (l) => lines.push(l));
    const iv = tx.processRequestHeaders() ?? tx.processRequestBody();
    tx.processLogging();
    if (iv) blocked.push(`${name}: ${iv.status} by ${iv.ruleId}\n  ${lines.map((l) => l.slice(0, 300)).join('\n  ')}`);
  }
  assert.deepEqual(blocked, []);
  // the same harness does block attacks, so an empty list means something
  const attack = waf.transaction(r('GET', "/?s=1'+union+select+user_pass+from+wp_users--+-"));
  assert.equal((attack.processRequestHeaders() ?? attack.processRequestBody())?.status, 403);
});
