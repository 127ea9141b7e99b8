import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isTriplaneError } from '@triplane/kernel';
import { ident, listTables, MASK, maskSecrets, READ_ONLY_PRELUDE, readRows, type SqlRunner, VALUE_CHARS } from './db.ts';

/**
 * The statements the browser builds and what it does with MariaDB's JSON lines. MariaDB itself
 * (read-only session, JSON escaping) is exercised by files-pod.test.ts; here a recorder answers
 * with the lines MariaDB printed for the same queries.
 */
function recorder(answers: Record<string, string>): { sql: SqlRunner; seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    sql: async (q) => {
      seen.push(q);
      const key = Object.keys(answers).find((k) => q.includes(k));
      if (key === undefined) throw new Error(`unexpected query ${q}`);
      return answers[key] as string;
    },
  };
}

const TABLES = '["wp_users", 1, 32768, "InnoDB"]\n["wp`odd", 0, 16384, "InnoDB"]\n["wp_usermeta", 20, 49152, "InnoDB"]\n';

describe('database browser', () => {
  test('every statement runs in a read-only session with a time limit', async () => {
    const r = recorder({ 'information_schema.TABLES': TABLES });
    const t = await listTables(r.sql, 'wordpress');
    assert.deepEqual(t[0], { name: 'wp_users', rowsEstimate: 1, bytes: 32768, engine: 'InnoDB' });
    assert.ok(r.seen.every((q) => q.startsWith(READ_ONLY_PRELUDE)));
    assert.match(READ_ONLY_PRELUDE, /SET SESSION TRANSACTION READ ONLY; SET SESSION max_statement_time = \d+/);
  });

  test('a table must be one information_schema listed; names are quoted as identifiers', async () => {
    const r = recorder({
      'information_schema.TABLES': TABLES,
      'information_schema.COLUMNS': '["id", "int", "int(11)"]\n',
      'FROM `wp``odd`': '[1]\n',
    });
    await assert.rejects(
      readRows(r.sql, 'wordpress', 'wp_users` UNION SELECT 1 -- ', { offset: 0, limit: 5 }),
      (e: unknown) => isTriplaneError(e) && e.code === 'TRIPLANE_ERR_NOT_FOUND',
    );
    const page = await readRows(r.sql, 'wordpress', 'wp`odd', { offset: 10, limit: 5 });
    assert.deepEqual(page.rows, [[1]]);
    assert.ok(r.seen.some((q) => q.includes('FROM `wp``odd` LIMIT 5 OFFSET 10;')));
    assert.equal(ident('a`b'), '`a``b`');
    for (const o of [
      { offset: -1, limit: 5 },
      { offset: 0, limit: 0 },
      { offset: 0, limit: 201 },
      { offset: 1.5, limit: 5 },
    ]) {
      await assert.rejects(
        readRows(r.sql, 'wordpress', 'wp`odd', o),
        (e: unknown) => isTriplaneError(e) && e.code === 'TRIPLANE_ERR_VALIDATION',
      );
    }
  });

  test('long values are cut, binary shown as hex, bigint kept exact, secrets masked', async () => {
    const long = 'x'.repeat(VALUE_CHARS + 1);
    const r = recorder({
      'information_schema.TABLES': TABLES,
      'information_schema.COLUMNS':
        '["umeta_id", "bigint", "bigint(20) unsigned"]\n["user_id", "bigint", "bigint(20) unsigned"]\n["meta_key", "varchar", "varchar(255)"]\n["meta_value", "longtext", "longtext"]\n["blob", "blob", "blob"]\n',
      'FROM `wp_usermeta`': [
        JSON.stringify(['18446744073709551615', '1', 'session_tokens', 'a:1:{s:64:"abc"}', null]),
        JSON.stringify(['2', '1', 'nickname', long, `0x${'AB'.repeat(VALUE_CHARS / 2 + 1)}`]),
        JSON.stringify(['3', '1', 'wp_capabilities', 'a:1:{s:13:"administrator";b:1;}', '0x00FF']),
      ].join('\n'),
    });
    const page = await readRows(r.sql, 'wordpress', 'wp_usermeta', { offset: 0, limit: 50 });
    const q = r.seen.find((s) => s.includes('FROM `wp_usermeta`')) ?? '';
    assert.match(q, /LEFT\(`umeta_id`, 1025\)/, 'bigint travels as text');
    assert.match(q, /CONCAT\('0x', HEX\(LEFT\(`blob`, 513\)\)\)/);
    assert.equal(page.rows[0]?.[0], '18446744073709551615');
    assert.equal(page.rows[0]?.[3], MASK, 'session tokens masked');
    assert.equal(page.rows[1]?.[3], 'x'.repeat(VALUE_CHARS));
    assert.equal(String(page.rows[1]?.[4]).length, VALUE_CHARS + 2);
    assert.deepEqual(page.truncated, [
      [1, 3],
      [1, 4],
    ]);
    assert.equal(page.rows[2]?.[3], 'a:1:{s:13:"administrator";b:1;}');
    assert.deepEqual(page.masked, ['session_tokens']);
  });

  test('maskSecrets: password columns, activation keys, API keys in options', () => {
    const users = [
      ['1', 'admin', '$P$Bhash', '', '1700000000:$P$Bkey'],
      ['2', 'ed', '$P$Bother', null, ''],
    ];
    const masked = maskSecrets(
      [
        { name: 'ID', type: 'bigint' },
        { name: 'user_login', type: 'varchar' },
        { name: 'user_pass', type: 'varchar' },
        { name: 'user_url', type: 'varchar' },
        { name: 'user_activation_key', type: 'varchar' },
      ],
      users,
    );
    assert.deepEqual(users, [
      ['1', 'admin', MASK, '', MASK],
      ['2', 'ed', MASK, null, ''],
    ]);
    assert.deepEqual(masked.sort(), ['user_activation_key', 'user_pass']);
    const options = [
      ['1', 'siteurl', 'http://x'],
      ['2', 'woocommerce_stripe_api_key', 'sk_live_123'],
      ['3', 'auth_salt', 'zzz'],
    ];
    maskSecrets(
      [
        { name: 'option_id', type: 'bigint' },
        { name: 'option_name', type: 'varchar' },
        { name: 'option_value', type: 'longtext' },
      ],
      options,
    );
    assert.deepEqual(
      options.map((o) => o[2]),
      ['http://x', MASK, MASK],
    );
  });
});
