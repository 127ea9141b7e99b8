/**
 * Guards the binding, not libinjection: the engine's @detectSQLi/@detectXSS verdicts and TX.0
 * captures must equal direct calls into Debian's libmodsecurity3 (through a second, independent
 * koffi binding fed exact-length copies) on a generated corpus of SQL-ish and HTML-ish
 * fragments, random bytes (NUL and ≥ 0x80 included) and values longer than the scratch buffer,
 * in sequences so a short value follows a long one.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import fc from 'fast-check';
import type { RequestInput } from '../engine/transaction.ts';
import { Waf } from '../engine/waf.ts';
import { type OperatorTx, operators } from '../operators/registry.ts';
import {
  heuristicDetectorNotLibinjection,
  injectionDetector,
  LIBINJECTION_LIBRARY,
  loadLibinjection,
  setInjectionDetector,
  useLibinjectionLibrary,
  WAF_LIBINJECTION,
} from './index.ts';

// the reference: its own koffi binding, a fresh exact-length copy per call, a fresh fingerprint buffer
const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
const lib = koffi.load(LIBINJECTION_LIBRARY);
const refSqliFn = lib.func('int libinjection_sqli(const uint8_t *s, size_t slen, uint8_t *fp)');
const refXssFn = lib.func('int libinjection_xss(const uint8_t *s, size_t slen)');
/** a standalone exact-length copy (no scratch, no trailing NUL) */
const exact = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
function refSqli(s: string): string | undefined {
  const bytes = exact(s);
  const fp = new Uint8Array(8);
  if (refSqliFn(bytes, bytes.length, fp) === 0) return undefined;
  const end = fp.indexOf(0);
  return String.fromCharCode(...fp.subarray(0, end < 0 ? 8 : end));
}
const refXss = (s: string): boolean => refXssFn(exact(s), s.length) !== 0;

const SQL = [
  "'",
  '"',
  '`',
  ' ',
  '  ',
  '\t',
  '\n',
  '1',
  '0',
  '-1',
  '1.5e3',
  '0x4142',
  '=',
  '<>',
  '!=',
  ' or ',
  ' OR ',
  ' and ',
  '&&',
  '||',
  ' union ',
  ' all ',
  ' select ',
  ' from ',
  ' where ',
  ' order by ',
  ' limit ',
  '--',
  '-- ',
  '#',
  '/*',
  '*/',
  '/*!50000',
  ';',
  '(',
  ')',
  ',',
  '.',
  'sleep(5)',
  'benchmark(',
  '@@version',
  '@x',
  'char(',
  'concat(',
  'admin',
  'users',
  'information_schema',
  '\\',
  '\0',
  'like',
  'null',
  'is not',
  'exec ',
  'xp_cmdshell',
  'drop table',
  'waitfor delay',
  "'1'='1",
  'case when',
  ' then ',
  ' else ',
  ' end',
  '$$',
  '{',
  '}',
  '\xe9',
  '\xa0',
  '\xff',
  'N',
  'x',
];
const HTML = [
  '<',
  '>',
  '</',
  '/>',
  'script',
  'img',
  'svg',
  'iframe',
  'body',
  'a',
  ' ',
  '\t',
  '\n',
  '\f',
  '\0',
  '/',
  'src=',
  'href=',
  'onerror=',
  'onload=',
  'style=',
  'javascript:',
  'vbscript:',
  'data:',
  '"',
  "'",
  '`',
  '=',
  'alert(1)',
  '&#x3c;',
  '&lt;',
  '<!--',
  '-->',
  '<!',
  '<?',
  '<![CDATA[',
  'x',
  'foo bar',
  'expression(',
  'url(',
  'formaction=',
  'xmlns',
  '\xa0',
  '\xff',
  '\xbc',
  'ScRiPt',
];
const latin1 = (a: Uint8Array) => Buffer.from(a).toString('latin1');
const frags = (list: string[], max: number) => fc.array(fc.constantFrom(...list), { maxLength: max }).map((a) => a.join(''));
const sqlish = frags(SQL, 14);
const htmlish = frags(HTML, 14);
const bytes = fc.uint8Array({ maxLength: 64 }).map(latin1);
const mixed = fc.array(fc.oneof(fc.constantFrom(...SQL, ...HTML), bytes), { maxLength: 10 }).map((a) => a.join(''));
// past the 16 KiB scratch buffer, so it grows (and short values later reuse the larger one)
const long = fc
  .tuple(fc.oneof(sqlish, htmlish), fc.integer({ min: 1, max: 30_000 }), fc.oneof(sqlish, htmlish))
  .map(([head, n, tail]) => head + 'x'.repeat(n) + tail);
const value = fc.oneof(
  { weight: 4, arbitrary: sqlish },
  { weight: 4, arbitrary: htmlish },
  { weight: 2, arbitrary: bytes },
  { weight: 2, arbitrary: mixed },
  { weight: 1, arbitrary: long },
);

function opTx(capturing: boolean) {
  const caps: Array<string | undefined> = [];
  const t: OperatorTx & { caps: typeof caps } = {
    capturing,
    caps,
    expand: (s) => s,
    setCaptures: (g) => caps.splice(0, caps.length, ...g),
    flagInternal: () => {},
  };
  return t;
}
const compileOp = (name: string) => operators.get(name.toLowerCase())!.compile('', { dir: '/', readFile: () => '' });

test('libinjection from libmodsecurity3 is the default detector; known vectors and fingerprints', () => {
  const d = injectionDetector();
  assert.match(d.name, /^libinjection \(/);
  assert.deepEqual(d.sqli("1' or '1'='1"), { isInjection: true, fingerprint: 's&sos' });
  assert.deepEqual(d.sqli('hello world'), { isInjection: false, fingerprint: '' });
  // the length is the value's: bytes after a NUL are inspected (a C-string binding would see "abc")
  assert.equal(d.sqli("abc\0' or 1=1 --").isInjection, true);
  assert.equal(d.xss('<script>alert(1)</script>'), true);
  assert.equal(d.xss('<b>bold</b> and 1 < 2'), false);
  assert.equal(d.xss('x\0<img src=x onerror=alert(1)>'), refXss('x\0<img src=x onerror=alert(1)>'));
});

test('differential: @detectSQLi/@detectXSS as the engine compiles them == direct library calls', () => {
  const sqli = compileOp('detectSQLi');
  const xss = compileOp('detectXSS');
  const seen = { n: 0, sqli: 0, xss: 0, nul: 0, high: 0, long: 0 };
  fc.assert(
    fc.property(fc.array(value, { minLength: 1, maxLength: 6 }), (vals) => {
      for (const v of vals) {
        seen.n++;
        if (v.includes('\0')) seen.nul++;
        if (/[\x80-\xff]/.test(v)) seen.high++;
        if (v.length > 16 * 1024) seen.long++;
        const fp = refSqli(v);
        const ts = opTx(true);
        assert.equal(sqli(v, ts), fp !== undefined, `@detectSQLi on ${JSON.stringify(v.slice(0, 200))}`);
        assert.deepEqual(ts.caps, fp === undefined ? [] : [fp], 'TX.0 = fingerprint');
        if (fp !== undefined) seen.sqli++;
        const isXss = refXss(v);
        const tx = opTx(true);
        assert.equal(xss(v, tx), isXss, `@detectXSS on ${JSON.stringify(v.slice(0, 200))}`);
        assert.deepEqual(tx.caps, isXss ? [v] : [], 'TX.0 = the inspected value');
        if (isXss) seen.xss++;
        // without `capture` nothing is stored
        const nc = opTx(false);
        sqli(v, nc);
        xss(v, nc);
        assert.deepEqual(nc.caps, []);
      }
    }),
    { seed: 20261125, numRuns: 2000 },
  );
  // the corpus is not vacuous: both verdicts, NUL bytes, high bytes and scratch growth occur
  assert.ok(seen.sqli > seen.n / 40 && seen.sqli < seen.n - seen.n / 20, JSON.stringify(seen));
  assert.ok(seen.xss > seen.n / 50 && seen.xss < seen.n - seen.n / 20, JSON.stringify(seen));
  assert.ok(seen.nul > 100 && seen.high > 100 && seen.long > 50, JSON.stringify(seen));
});

test('values above the retained scratch size (1 MiB) use a one-off buffer and still match exactly', () => {
  const d = injectionDetector();
  for (const v of [
    "1' or '1'='1" + 'a'.repeat(1_200_000),
    'a'.repeat(1_200_000) + "' union select 1 --",
    '<script>' + '\xff'.repeat(1_100_000),
  ]) {
    const fp = refSqli(v);
    assert.deepEqual(d.sqli(v), { isInjection: fp !== undefined, fingerprint: fp ?? '' });
    assert.equal(d.xss(v), refXss(v));
  }
  // a short value after the huge ones is unaffected by stale bytes
  assert.deepEqual(d.sqli('1'), { isInjection: false, fingerprint: '' });
});

test('differential through a whole transaction: ARGS bytes reach libinjection unchanged', () => {
  const waf = Waf.fromText(
    [
      'SecRuleEngine DetectionOnly',
      'SecRule ARGS_GET:v "@detectSQLi" "id:1,phase:1,pass,log,capture,t:none,setvar:tx.fp=%{TX.0}"',
      'SecRule ARGS_GET:v "@detectXSS" "id:2,phase:1,pass,log,capture,t:none,setvar:tx.xss=%{TX.0}"',
      'SecRule ARGS_GET:v "@unconditionalMatch" "id:3,phase:1,pass,nolog,t:none,setvar:tx.seen=%{MATCHED_VAR}"',
    ].join('\n'),
    '/test/libinjection.conf',
  );
  const pct = (s: string) => Array.from(s, (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join('');
  let positives = 0;
  fc.assert(
    fc.property(fc.oneof(sqlish, htmlish, bytes, mixed), (v) => {
      const req: RequestInput = {
        method: 'GET',
        uri: `/?v=${pct(v)}`,
        protocol: 'HTTP/1.1',
        headers: [['Host', 'example.com']],
        remoteAddr: '192.0.2.1',
        uniqueId: 'diff',
      };
      const tx = waf.transaction(req, () => {});
      tx.processRequestHeaders();
      assert.equal(tx.collectionGet('tx', 'seen')?.value, v, 'the value reaches the operators unchanged');
      const fp = refSqli(v);
      const ids = tx.events.map((e) => e.ruleId);
      assert.equal(ids.includes(1), fp !== undefined);
      assert.equal(tx.collectionGet('tx', 'fp')?.value, fp);
      assert.equal(ids.includes(2), refXss(v));
      assert.equal(tx.collectionGet('tx', 'xss')?.value, refXss(v) ? v : undefined);
      if (fp !== undefined || refXss(v)) positives++;
    }),
    { seed: 7, numRuns: 400 },
  );
  assert.ok(positives > 15, `only ${positives} positives`);
});

test('a missing library fails WAF construction with TRIPLANE_ERR_WAF_LIBINJECTION unless the heuristic is chosen', () => {
  const rules = 'SecRule ARGS "@detectSQLi" "id:1,phase:2,deny"';
  const missing = '/nonexistent/libmodsecurity.so.3';
  assert.throws(
    () => loadLibinjection(missing),
    (e: { code?: string; message: string }) => {
      assert.equal(e.code, WAF_LIBINJECTION);
      assert.match(e.message, /apt-get install libmodsecurity3/);
      return true;
    },
  );
  try {
    useLibinjectionLibrary(missing);
    assert.throws(() => Waf.fromText(rules, '/test/a.conf'), { code: WAF_LIBINJECTION });
    assert.throws(() => Waf.fromText('SecRule ARGS "@detectXSS" "id:1,phase:2,deny"', '/test/a.conf'), {
      code: WAF_LIBINJECTION,
    });
    // rule sets without the two operators don't need the library
    Waf.fromText('SecRule ARGS "@rx a" "id:1,phase:2,deny"', '/test/a.conf');
    setInjectionDetector(heuristicDetectorNotLibinjection);
    const w = Waf.fromText(`SecRuleEngine On\n${rules}`, '/test/a.conf');
    assert.equal(injectionDetector().name, 'heuristic (not libinjection)');
    const tx = w.transaction(
      {
        method: 'GET',
        uri: "/?q=1'%20or%20'1'='1",
        protocol: 'HTTP/1.1',
        headers: [['Host', 'x']],
        remoteAddr: '192.0.2.1',
        uniqueId: 'h',
      },
      () => {},
    );
    assert.equal((tx.processRequestHeaders() ?? tx.processRequestBody())?.status, 403);
  } finally {
    useLibinjectionLibrary(LIBINJECTION_LIBRARY);
  }
  assert.match(injectionDetector().name, /^libinjection \(/);
});
