import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { auditRecord, isRelevant } from './audit.ts';
import { MemoryCollectionStore } from './collections.ts';
import type { RequestInput, Transaction } from './transaction.ts';
import { Waf } from './waf.ts';

const BASE =
  'SecRuleEngine On\nSecRequestBodyAccess On\nSecDefaultAction "phase:1,log,auditlog,pass"\nSecDefaultAction "phase:2,log,auditlog,pass"\n';

function waf(rules: string, opts: ConstructorParameters<typeof Waf>[1] = {}): Waf {
  return Waf.fromText(BASE + rules, '/test/rules.conf', {}, opts);
}

function req(over: Partial<RequestInput> = {}): RequestInput {
  return {
    method: 'GET',
    uri: '/',
    protocol: 'HTTP/1.1',
    headers: [
      ['Host', 'example.com'],
      ['User-Agent', 'test'],
    ],
    remoteAddr: '192.0.2.1',
    uniqueId: 'req-1',
    ...over,
  };
}

function run(w: Waf, r: RequestInput): { tx: Transaction; lines: string[]; status: number | undefined } {
  const lines: string[] = [];
  const tx = w.transaction(r, (l) => lines.push(l));
  const iv = tx.processRequestHeaders() ?? tx.processRequestBody();
  tx.processLogging();
  return { tx, lines, status: iv?.status };
}

const ids = (tx: Transaction) => tx.events.map((e) => e.ruleId);

describe('engine', () => {
  test('log lines carry ModSecurity fields; deny enforced in On, only logged in DetectionOnly', () => {
    const rules =
      "SecRule ARGS \"@rx attack\" \"id:100,phase:2,deny,status:403,msg:'Found %{MATCHED_VAR_NAME}',logdata:'%{MATCHED_VAR}',tag:'t1',severity:CRITICAL\"\n";
    const on = run(waf(rules), req({ uri: '/?a=ok&b=xattackx' }));
    assert.equal(on.status, 403);
    assert.equal(on.lines.length, 1);
    const l = on.lines[0]!;
    assert.match(l, /^ModSecurity: Access denied with code 403 \(phase 2\)/);
    for (const part of [
      '[id "100"]',
      '[msg "Found ARGS:b"]',
      '[data "xattackx"]',
      '[severity "2"]',
      '[tag "t1"]',
      '[unique_id "req-1"]',
      "against variable `ARGS:b'",
    ])
      assert.ok(l.includes(part), `${part} missing in ${l}`);
    const det = run(waf(`SecRuleEngine DetectionOnly\n${rules}`), req({ uri: '/?b=attack' }));
    assert.equal(det.status, undefined);
    assert.match(det.lines[0]!, /^ModSecurity: Warning\./);
  });

  test('anomaly scoring is plain SecLang: setvar with macros, then @ge in a later rule', () => {
    const rules = [
      'SecAction "id:1,phase:1,nolog,pass,setvar:tx.crit=5,setvar:tx.threshold=10"',
      'SecRule ARGS "@rx evil" "id:10,phase:2,pass,setvar:\'tx.score=+%{tx.crit}\'"',
      'SecRule TX:SCORE "@ge %{tx.threshold}" "id:20,phase:2,deny,status:403,msg:\'score %{tx.score}\'"',
    ].join('\n');
    assert.equal(run(waf(rules), req({ uri: '/?a=evil' })).status, undefined);
    const two = run(waf(rules), req({ uri: '/?a=evil&b=evil' }));
    // one match per variable: two arguments score twice
    assert.equal(two.status, 403);
    assert.equal(two.tx.collectionGet('tx', 'score')?.value, '10');
    assert.match(two.lines.at(-1)!, /\[msg "score 10"\]/);
  });

  test('chains: links run only after the previous rule matched; capture feeds TX:1', () => {
    const rules = [
      'SecRule REQUEST_URI "@rx ^/(admin|api)" "id:30,phase:1,deny,capture,chain"',
      '  SecRule TX:1 "@streq admin" "chain"',
      '  SecRule REQUEST_HEADERS:User-Agent "@contains bot"',
    ].join('\n');
    assert.equal(
      run(
        waf(rules),
        req({
          uri: '/admin',
          headers: [
            ['Host', 'x'],
            ['User-Agent', 'evilbot'],
          ],
        }),
      ).status,
      403,
    );
    assert.equal(
      run(
        waf(rules),
        req({
          uri: '/api',
          headers: [
            ['Host', 'x'],
            ['User-Agent', 'evilbot'],
          ],
        }),
      ).status,
      undefined,
    );
    assert.equal(
      run(
        waf(rules),
        req({
          uri: '/admin',
          headers: [
            ['Host', 'x'],
            ['User-Agent', 'curl'],
          ],
        }),
      ).status,
      undefined,
    );
  });

  test('skipAfter jumps to the marker; markers exist in every phase', () => {
    const rules = [
      'SecRule ARGS:skip "@streq 1" "id:40,phase:2,pass,nolog,skipAfter:END"',
      'SecRule ARGS "@rx ." "id:41,phase:2,deny"',
      'SecMarker END',
      'SecRule ARGS:x "@rx ." "id:42,phase:2,pass"',
    ].join('\n');
    const r = run(waf(rules), req({ uri: '/?skip=1&x=1' }));
    assert.equal(r.status, undefined);
    assert.deepEqual(ids(r.tx), [42]);
    assert.equal(run(waf(rules), req({ uri: '/?x=1' })).status, 403);
  });

  test('skipAfter to a marker only found earlier skips the rest of the phase; skip:N does not count markers', () => {
    const rules = [
      'SecMarker BACK',
      'SecRule ARGS:skip "@streq 1" "id:43,phase:2,pass,nolog,skipAfter:BACK"',
      'SecRule ARGS:skip "@streq 2" "id:44,phase:2,pass,nolog,skip:1"',
      'SecMarker MID',
      'SecRule ARGS "@rx ." "id:45,phase:2,pass"',
      'SecRule ARGS:x "@rx ." "id:46,phase:2,pass"',
    ].join('\n');
    assert.deepEqual(ids(run(waf(rules), req({ uri: '/?skip=1&x=1' })).tx), []);
    assert.deepEqual(ids(run(waf(rules), req({ uri: '/?skip=2&x=1' })).tx), [46]);
    assert.deepEqual(ids(run(waf(rules), req({ uri: '/?skip=3&x=1' })).tx), [45, 45, 46]);
  });

  test('exclusions: !COLL:key, regex selectors, counting with &', () => {
    const rules = [
      'SecRule ARGS|!ARGS:safe|!ARGS:/^tok_/ "@rx bad" "id:50,phase:2,pass"',
      'SecRule &ARGS:/^tok_/ "@eq 2" "id:51,phase:2,pass"',
      'SecRule &REQUEST_HEADERS:X-Missing "@eq 0" "id:52,phase:1,pass"',
    ].join('\n');
    const r = run(waf(rules), req({ uri: '/?safe=bad&tok_a=bad&TOK_b=bad' }));
    assert.deepEqual(ids(r.tx), [52, 51]);
    const r2 = run(waf(rules), req({ uri: '/?other=bad' }));
    assert.deepEqual(ids(r2.tx), [52, 50]);
  });

  test('ctl: ruleRemoveById (ranges) and ruleRemoveTargetById per transaction; SecRuleRemoveById at config time', () => {
    const rules = [
      'SecRule REQUEST_URI "@beginsWith /wp-admin" "id:60,phase:1,pass,nolog,ctl:ruleRemoveTargetById=70;ARGS:content,ctl:ruleRemoveById=80-89"',
      'SecRule ARGS "@rx <script" "id:70,phase:2,deny"',
      'SecRule ARGS "@rx x" "id:85,phase:2,deny"',
      'SecRule ARGS "@rx never" "id:90,phase:2,deny"',
      'SecRuleRemoveById 90',
    ].join('\n');
    const w = waf(rules);
    assert.equal(run(w, req({ uri: '/wp-admin/post.php?content=<script>x' })).status, undefined);
    assert.equal(run(w, req({ uri: '/wp-admin/post.php?title=<script>' })).status, 403);
    assert.equal(run(w, req({ uri: '/other?content=<script>' })).status, 403);
    assert.equal(run(w, req({ uri: '/other?content=never' })).status, undefined);
  });

  test('urlencoded body: ARGS_POST and REQUEST_BODY; JSON body via ctl:requestBodyProcessor', () => {
    const rules = [
      'SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:1,phase:1,pass,nolog,ctl:requestBodyProcessor=JSON"',
      'SecRule ARGS_POST:user.name "@streq admin" "id:2,phase:2,pass"',
      'SecRule ARGS_POST:a "@streq 1" "id:3,phase:2,pass"',
      'SecRule REQUEST_BODY "@contains a=1" "id:4,phase:2,pass"',
      'SecRule REQBODY_ERROR "!@eq 0" "id:5,phase:2,pass"',
    ].join('\n');
    const post = (ct: string, body: string) =>
      run(
        waf(rules),
        req({
          method: 'POST',
          headers: [
            ['Host', 'x'],
            ['Content-Type', ct],
          ],
          body,
        }),
      );
    assert.deepEqual(ids(post('application/x-www-form-urlencoded', 'a=1&b=2').tx), [3, 4]);
    assert.deepEqual(ids(post('application/json', '{"user":{"name":"admin"}}').tx), [2]);
    assert.deepEqual(ids(post('application/json', '{"user":').tx), [5]);
  });

  test('multipart: parts become ARGS/FILES, strict-validation flags are exposed', () => {
    const rules = [
      'SecRule FILES "@endsWith .php" "id:1,phase:2,pass"',
      'SecRule ARGS:title "@streq hello" "id:2,phase:2,pass"',
      'SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:3,phase:2,pass"',
      'SecRule MULTIPART_PART_HEADERS "@rx (?i)content-type: text/x-php" "id:4,phase:2,pass"',
    ].join('\n');
    const body = [
      '--XyZ',
      'Content-Disposition: form-data; name="title"',
      '',
      'hello',
      '--XyZ',
      'Content-Disposition: form-data; name="f"; filename="shell.php"',
      'Content-Type: text/x-php',
      '',
      '<?php echo 1; ?>',
      '--XyZ--',
      '',
    ].join('\r\n');
    const mk = (b: string, ct = 'multipart/form-data; boundary=XyZ') =>
      run(
        waf(rules),
        req({
          method: 'POST',
          headers: [
            ['Host', 'x'],
            ['Content-Type', ct],
          ],
          body: b,
        }),
      );
    assert.deepEqual(ids(mk(body).tx), [1, 2, 4]);
    assert.deepEqual(ids(mk(body.replaceAll('\r\n', '\n')).tx), [1, 2, 3, 4]);
    assert.deepEqual(ids(mk(body, 'multipart/form-data; boundary="XyZ"').tx), [1, 2, 3, 4]);
  });

  test('XML body: XML:/* is the text content; malformed XML sets REQBODY_ERROR', () => {
    const rules = [
      'SecRule REQUEST_HEADERS:Content-Type "^text/xml" "id:1,phase:1,pass,nolog,ctl:requestBodyProcessor=XML"',
      'SecRule XML:/* "@contains select" "id:2,phase:2,pass"',
      'SecRule REQBODY_ERROR "@eq 1" "id:3,phase:2,pass"',
      'SecRule REQUEST_BODY "@rx ." "id:4,phase:2,pass"',
    ].join('\n');
    const post = (body: string) =>
      run(
        waf(rules),
        req({
          method: 'POST',
          headers: [
            ['Host', 'x'],
            ['Content-Type', 'text/xml'],
          ],
          body,
        }),
      );
    assert.deepEqual(ids(post('<a><b>1 union select</b></a>').tx), [2]);
    assert.deepEqual(ids(post('<a><b>x</a>').tx), [3]);
  });

  test('IP collection persists across transactions and honours expirevar', () => {
    let now = 1_000_000;
    const store = new MemoryCollectionStore();
    const rules = [
      'SecAction "id:1,phase:1,nolog,pass,initcol:ip=%{remote_addr}"',
      'SecRule REQUEST_URI "@streq /login" "id:2,phase:1,pass,nolog,setvar:ip.tries=+1,expirevar:ip.tries=60"',
      'SecRule IP:tries "@ge 3" "id:3,phase:1,deny,status:429"',
    ].join('\n');
    const w = waf(rules, { store, now: () => now });
    const login = (addr = '192.0.2.1') => run(w, req({ uri: '/login', remoteAddr: addr })).status;
    assert.equal(login(), undefined);
    assert.equal(login(), undefined);
    assert.equal(login(), 429);
    assert.equal(login('192.0.2.2'), undefined);
    now += 61_000;
    assert.equal(login(), undefined);
  });

  test('bad rules are refused at load with file and line', () => {
    assert.throws(() => waf('SecRule ARGS "@nosuchop x" "id:1"'), /rules\.conf:5: unknown operator @nosuchop/);
    assert.throws(() => waf('SecRule ARGS "@rx (?|a)" "id:1"'), /rules\.conf:5: @rx: unsupported group/);
    assert.throws(() => waf('SecRule ARGS "@rx a" "id:1,t:nosuch"'), /unknown transformation/);
    assert.throws(() => waf('SecRule ARGS "@rx a" "id:1,chain"'), /no rule follows/);
    assert.throws(() => waf('SecRule ARGS "@rx a" "id:1"\nSecRule ARGS "@rx a" "id:1"'), /duplicate rule id 1/);
  });
});

test('after an intervention the logging phase still runs all its rules', () => {
  const rules = [
    'SecRule ARGS "@rx evil" "id:1,phase:2,deny,status:403"',
    'SecAction "id:2,phase:5,pass,log,msg:\'first\'"',
    'SecAction "id:3,phase:5,deny,log,msg:\'second\'"',
    'SecAction "id:4,phase:5,pass,log,msg:\'third\'"',
  ].join('\n');
  const r = run(waf(rules), req({ uri: '/?a=evil' }));
  assert.equal(r.status, 403);
  assert.deepEqual(ids(r.tx), [1, 2, 3, 4]);
  assert.equal(r.tx.intervention?.ruleId, 1);
});

test('JSON audit record carries the request, the matched rules and the intervention', () => {
  const r = run(
    waf('SecRule ARGS "@rx attack" "id:100,phase:2,deny,status:403,msg:\'bad\',tag:\'t1\',severity:CRITICAL"'),
    req({ uri: '/?q=attack' }),
  );
  assert.ok(isRelevant(r.tx));
  const rec = auditRecord(r.tx, new Date(0));
  assert.equal(rec.transaction.unique_id, 'req-1');
  assert.equal(rec.transaction.request.uri, '/?q=attack');
  assert.equal(rec.transaction.request.headers.Host, 'example.com');
  assert.equal(rec.transaction.response.http_code, 403);
  assert.deepEqual(rec.transaction.intervention, { status: 403, ruleId: 100, action: 'deny' });
  assert.equal(rec.transaction.messages.length, 1);
  assert.equal(rec.transaction.messages[0]!.details.ruleId, '100');
  assert.equal(rec.transaction.messages[0]!.details.severity, 'CRITICAL');
  assert.deepEqual(rec.transaction.messages[0]!.details.tags, ['t1']);
  assert.ok(!isRelevant(run(waf('SecRule ARGS "@rx attack" "id:100,phase:2,deny"'), req()).tx));
});
