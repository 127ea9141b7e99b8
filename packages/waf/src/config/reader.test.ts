import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { isTriplaneError } from '@triplane/kernel';
import { parseActions } from './parse-actions.ts';
import { parseVariables } from './parse-variables.ts';
import { readConfigFile, readConfigText } from './reader.ts';

function expectConfigError(fn: () => unknown, file: string, line: number, reason: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.ok(isTriplaneError(e), `not a TriplaneError: ${e}`);
    assert.equal(e.code, 'TRIPLANE_ERR_WAF_CONFIG');
    const d = e.details as { file: string; line: number; reason: string };
    assert.equal(path.basename(d.file), file);
    assert.equal(d.line, line);
    assert.match(d.reason, reason);
    return;
  }
  assert.fail('expected a config error');
}

describe('SecLang reader', () => {
  test('line continuations keep the next line indentation; comments and blanks skipped', () => {
    const d = readConfigText(
      '# comment\n\nSecRule ARGS "@rx a" \\\n    "id:1,\\\n    phase:2"\n  # indented comment\nSecMarker END\n',
      '/x/a.conf',
    );
    assert.equal(d.length, 2);
    assert.deepEqual(d[0]!.args, ['ARGS', '@rx a', 'id:1,    phase:2']);
    assert.equal(d[0]!.line, 3);
    assert.equal(d[1]!.line, 7);
  });

  test('ModSecurity 2 unescaping: \\\\ reads as \\ and \\" as " inside quotes', () => {
    const d = readConfigText('SecRule ARGS "@rx a\\\\\\\\b\\"c\\d" "id:1"', '/x/a.conf');
    assert.equal(d[0]!.args[1], '@rx a\\\\b"c\\d');
  });

  test('single-quoted and unquoted arguments', () => {
    const d = readConfigText("SecRuleEngine DetectionOnly\nSecAction 'id:2,pass'", '/x/a.conf');
    assert.deepEqual(d[0]!.args, ['DetectionOnly']);
    assert.deepEqual(d[1]!.args, ['id:2,pass']);
  });

  test('Include with a glob reads matches in sorted order, relative to the including file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'waf-inc-'));
    fs.mkdirSync(path.join(dir, 'rules'));
    fs.writeFileSync(path.join(dir, 'rules', 'b.conf'), 'SecMarker B\n');
    fs.writeFileSync(path.join(dir, 'rules', 'a.conf'), 'SecMarker A\n');
    fs.writeFileSync(path.join(dir, 'main.conf'), 'Include rules/*.conf\nIncludeOptional nothing/*.conf\nSecMarker C\n');
    const d = readConfigFile(path.join(dir, 'main.conf'));
    assert.deepEqual(
      d.map((x) => x.args[0]),
      ['A', 'B', 'C'],
    );
    assert.equal(path.basename(d[0]!.file), 'a.conf');
    fs.rmSync(dir, { recursive: true });
  });

  test('errors name the file, the line and the reason', () => {
    expectConfigError(() => readConfigText('SecMarker A\nSecRule ARGS "@rx a', '/x/bad.conf'), 'bad.conf', 2, /unterminated/);
    expectConfigError(() => readConfigText('\n\nInclude /nonexistent/x.conf', '/x/inc.conf'), 'inc.conf', 3, /not found/);
    expectConfigError(() => parseActions("msg:'abc", { file: '/x/r.conf', line: 9 }), 'r.conf', 9, /unterminated/);
    expectConfigError(() => parseVariables('ARGS|!ARGS', { file: '/x/v.conf', line: 4 }), 'v.conf', 4, /needs a key/);
  });
});

describe('rule parts', () => {
  test('actions: quoted values with escapes, bare values stop at comma/space', () => {
    const a = parseActions("id:1, phase:2,msg:'it\\'s %{tx.x}',t:none,t:lowercase,nolog,setvar:tx.a=+1", { file: 'f', line: 1 });
    assert.deepEqual(a, [
      { name: 'id', value: '1' },
      { name: 'phase', value: '2' },
      { name: 'msg', value: "it's %{tx.x}" },
      { name: 't', value: 'none' },
      { name: 't', value: 'lowercase' },
      { name: 'nolog', value: undefined },
      { name: 'setvar', value: 'tx.a=+1' },
    ]);
  });

  test('variables: counting, exclusion, regex selector with |, XML xpath', () => {
    const v = parseVariables('&ARGS|!REQUEST_COOKIES:/__utm|x/|ARGS_NAMES:foo|XML:/*', { file: 'f', line: 1 });
    assert.deepEqual(
      v.map((x) => [x.name, x.key, x.keyRegex, x.count, x.exclude]),
      [
        ['ARGS', undefined, undefined, true, false],
        ['REQUEST_COOKIES', undefined, '__utm|x', false, true],
        ['ARGS_NAMES', 'foo', undefined, false, false],
        ['XML', '/*', undefined, false, false],
      ],
    );
  });
});
