/**
 * The dump rewriter against a real MariaDB 10.11 (the triplane/mariadb site image): real
 * mariadb-dump output in, the rewritten dump loaded back by the real server, values compared
 * byte for byte. Needs root and the image; skipped otherwise.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { mariadbTestImage, startTestMariadb } from '../testing.ts';
import { compileReplacer } from './replacer.ts';
import { replaceInPhpBytes } from './serialized.ts';
import { createDumpRewriter } from './sql-dump.ts';
import { urlReplaceRules } from './url-pairs.ts';

const image = mariadbTestImage();
const name = `triplane-rwtest-${process.pid}-${randomBytes(3).toString('hex')}`;

function podman(args: string[], input?: Buffer): Buffer {
  const r = spawnSync('podman', args, { input, maxBuffer: 256 * 1024 * 1024, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`podman ${args.slice(0, 4).join(' ')}: ${r.stderr?.toString()}`);
  return r.stdout;
}
const sql = (q: string | Buffer, db = '') =>
  podman(
    ['exec', '-i', name, 'mariadb', '--batch', '--skip-column-names', ...(db ? [db] : [])],
    Buffer.isBuffer(q) ? q : Buffer.from(q),
  );

async function rewrite(dump: Buffer, opts: Parameters<typeof createDumpRewriter>[0]): Promise<Buffer> {
  const rw = createDumpRewriter(opts);
  const out: Buffer[] = [];
  rw.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((res, rej) => {
    rw.on('end', res);
    rw.on('error', rej);
  });
  // feed in odd-sized chunks, like a pipe would
  for (let i = 0; i < dump.length; i += 8191) rw.write(dump.subarray(i, i + 8191));
  rw.end();
  await done;
  return Buffer.concat(out);
}

const OLD = 'https://old.example';
const NEW = 'https://new.example.org';
const s = (v: string) => `s:${Buffer.byteLength(v)}:"${v}";`;
const tricky = `nul\0 cr\r lf\n tab\t bs\\ sq' dq" z\x1a 日本 😀 ${OLD}/x`;
const VALUES: string[] = [
  OLD,
  `a:2:{s:3:"url";${s(`${OLD}/shop`)}s:4:"text";${s(tricky)}}`,
  s(`a:1:{s:4:"link";${s(`${OLD}/p`)}}`),
  `{"u":"https:\\/\\/old.example\\/wp-json"}`,
  `a:1:{s:3:"url";s:99:"${OLD}/broken";}`,
  `https://old.example.com/ stays`,
  `${'x'.repeat(300_000)} ${OLD} ${'é'.repeat(100_000)}`,
];
const BINARY = Buffer.concat([Buffer.from(`${OLD}/`), Buffer.from(Array.from({ length: 256 }, (_, i) => i))]);

describe('dump rewriter with real mariadb-dump and MariaDB', {
  skip: image ? false : 'needs root and the triplane/mariadb image',
}, () => {
  let dump: Buffer; // --hex-blob: binary columns as 0x…, which the rewriter never touches
  let plainDump: Buffer; // mariadb-dump 10.11 writes binary columns as plain '…' strings

  before(async () => {
    await startTestMariadb(image!, name);
    const rows = VALUES.map((v, i) => `(${i + 1},'o${i + 1}',CONVERT(0x${Buffer.from(v).toString('hex')} USING utf8mb4),'yes')`);
    sql(
      `CREATE TABLE wp_options (option_id int PRIMARY KEY, option_name varchar(191), option_value longtext, autoload varchar(20));
       INSERT INTO wp_options VALUES ${rows.join(',')};
       CREATE TABLE wp_files (id int PRIMARY KEY, data longblob, name varbinary(100));
       INSERT INTO wp_files VALUES (1, 0x${BINARY.toString('hex')}, 0x${Buffer.from(`${OLD}/n`).toString('hex')});
       CREATE TABLE wp_woocommerce_sessions (session_id int PRIMARY KEY, session_value longtext);
       INSERT INTO wp_woocommerce_sessions VALUES (1, '${OLD}/cart');
       DELIMITER ;;
       CREATE TRIGGER wp_sessions_bi BEFORE INSERT ON wp_woocommerce_sessions FOR EACH ROW
         BEGIN SET NEW.session_value = CONCAT(NEW.session_value, ';'); SET NEW.session_id = NEW.session_id + 0; END;;
       DELIMITER ;
       CREATE DATABASE wp2; CREATE DATABASE wp3;`,
      'wp',
    );
    dump = podman(['exec', name, 'mariadb-dump', '--single-transaction', '--hex-blob', 'wp']);
    plainDump = podman(['exec', name, 'mariadb-dump', '--single-transaction', 'wp']);
  });

  after(() => {
    spawnSync('podman', ['rm', '-f', '-t', '0', name], { timeout: 60_000 });
  });

  it('passes the real dump through byte-identical without pairs', async () => {
    for (const d of [dump, plainDump]) {
      assert.ok(d.length > 500_000);
      assert.ok((await rewrite(d, {})).equals(d));
      assert.ok((await rewrite(d, { pairs: urlReplaceRules('https://absent.example', NEW) })).equals(d));
    }
  });

  it('loads the rewritten dump into MariaDB with every value exactly as replaceInPhpValue says, binaries untouched', async () => {
    const out = await rewrite(dump, { pairs: urlReplaceRules(OLD, NEW) });
    sql(out, 'wp2');
    const r = compileReplacer(urlReplaceRules(OLD, NEW));
    const got = sql('SELECT option_id, HEX(option_value) FROM wp_options ORDER BY option_id', 'wp2')
      .toString()
      .trim()
      .split('\n');
    assert.equal(got.length, VALUES.length);
    VALUES.forEach((v, i) => {
      const want = Buffer.from(replaceInPhpBytes(Buffer.from(v).toString('latin1'), r), 'latin1');
      assert.equal(got[i]!.split('\t')[1], want.toString('hex').toUpperCase(), `option ${i + 1}`);
    });
    // rewritten where it should be, untouched where it must be
    const text = Buffer.from(got.map((l) => l.split('\t')[1]).join(''), 'hex').toString();
    assert.ok(text.includes(`s:99:"${OLD}/broken"`) && text.includes('https://old.example.com/ stays'));
    assert.ok(!text.replaceAll(`s:99:"${OLD}/broken"`, '').replaceAll('old.example.com', '').includes('old.example'));
    const bin = sql('SELECT HEX(data), HEX(name) FROM wp_files', 'wp2').toString().trim().split('\t');
    assert.equal(bin[0], BINARY.toString('hex').toUpperCase());
    assert.equal(bin[1], Buffer.from(`${OLD}/n`).toString('hex').toUpperCase());
  });

  it('without --hex-blob, binary columns are plain strings: rewritten like text, every other byte kept', async () => {
    const out = await rewrite(plainDump, { pairs: urlReplaceRules(OLD, NEW) });
    sql('CREATE DATABASE wp4', 'wp');
    sql(out, 'wp4');
    const bin = sql('SELECT HEX(data) FROM wp_files', 'wp4').toString().trim();
    assert.equal(
      bin,
      Buffer.concat([Buffer.from(`${NEW}/`), BINARY.subarray(OLD.length + 1)])
        .toString('hex')
        .toUpperCase(),
    );
  });

  it('drops a skipped table from what MariaDB loads', async () => {
    const out = await rewrite(dump, { pairs: urlReplaceRules(OLD, NEW), skipTables: new Set(['wp_woocommerce_sessions']) });
    sql(out, 'wp3');
    const tables = sql('SHOW TABLES', 'wp3').toString().trim().split('\n').sort();
    assert.deepEqual(tables, ['wp_files', 'wp_options']);
    assert.equal(sql('SHOW TRIGGERS', 'wp3').toString().trim(), '');
    // and the trigger of a kept table survives the rewrite whole
    assert.match(sql('SHOW TRIGGERS', 'wp2').toString(), /wp_sessions_bi/);
  });
});
