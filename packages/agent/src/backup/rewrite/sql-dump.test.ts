import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { isTriplaneError } from '@triplane/kernel';
import fc from 'fast-check';
import { compileReplacer } from './replacer.ts';
import { createDumpRewriter, type DumpRewriteOptions, escapeSqlBytes, unescapeSqlBytes } from './sql-dump.ts';
import { urlReplaceRules } from './url-pairs.ts';

const sstr = (s: string) => `s:${Buffer.byteLength(s)}:"${s}";`;
/** mariadb-dump's escaping, for building sample lines */
const q = (s: string) => `'${escapeSqlBytes(Buffer.from(s, 'utf8').toString('latin1')).toString('utf8')}'`;

const OLD = 'https://old.example';
const NEW = 'https://new.example.org';
const widget = (u: string) =>
  `a:2:{i:2;a:2:{s:5:"title";s:4:"Shop";s:4:"text";${sstr(`<a href="${u}/shop">it's "Shop"</a>\n`)}}s:12:"_multiwidget";i:1;}`;
const jsonv = (u: string) => `{"u":"${u.replaceAll('/', '\\/')}\\/p"}`;
const meta = (u: string) => sstr(`a:1:{s:3:"url";${sstr(`${u}/日本/`)}}`);

/** A dump shaped like mariadb-dump 10.11 output (extended inserts, comments, triggers, footer). */
function sampleDump(u: string): string {
  return `/*M!999999\\- enable the sandbox mode */ 
-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: localhost    Database: wp
-- ------------------------------------------------------
-- Server version\t10.11.6-MariaDB-0+deb12u1

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*M!100616 SET @OLD_NOTE_VERBOSITY=@@NOTE_VERBOSITY, NOTE_VERBOSITY=0 */;

--
-- Table structure for table \`wp_options\`
--

DROP TABLE IF EXISTS \`wp_options\`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8 */;
CREATE TABLE \`wp_options\` (
  \`option_id\` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  \`option_name\` varchar(191) NOT NULL DEFAULT '',
  \`option_value\` longtext NOT NULL,
  \`autoload\` varchar(20) NOT NULL DEFAULT 'yes' COMMENT 'it''s ${OLD} in DDL',
  PRIMARY KEY (\`option_id\`)
) ENGINE=InnoDB AUTO_INCREMENT=200 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table \`wp_options\`
--

LOCK TABLES \`wp_options\` WRITE;
/*!40000 ALTER TABLE \`wp_options\` DISABLE KEYS */;
INSERT INTO \`wp_options\` VALUES (1,'siteurl',${q(u)},'yes'),(2,'home',${q(`${u}/`)},'yes'),(3,'widget_text',${q(widget(u))},'yes'),(4,'esc',${q(`nul\0 cr\r lf\n tab\t bs\\ sq' dq" z\x1a ${u}.`)},'no'),(5,'bin',_binary '${OLD}/\\0\\'x',0x68747470733A2F2F6F6C642E6578616D706C65),(6,'pct','50\\% off \\_x ${u}',NULL),(7,'json',${q(jsonv(u))},'yes'),(8,'other','https://old.example.com/','yes'),(9,'dq','it''s ${u}/''q''','yes');
/*!40000 ALTER TABLE \`wp_options\` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table \`wp_woocommerce_sessions\`
--

DROP TABLE IF EXISTS \`wp_woocommerce_sessions\`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8 */;
CREATE TABLE \`wp_woocommerce_sessions\` (
  \`session_id\` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  \`session_value\` longtext NOT NULL,
  PRIMARY KEY (\`session_id\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table \`wp_woocommerce_sessions\`
--

LOCK TABLES \`wp_woocommerce_sessions\` WRITE;
/*!40000 ALTER TABLE \`wp_woocommerce_sessions\` DISABLE KEYS */;
INSERT INTO \`wp_woocommerce_sessions\` VALUES (1,${q(`a:1:{s:4:"cart";${sstr(`${u}/cart`)}}`)});
/*!40000 ALTER TABLE \`wp_woocommerce_sessions\` ENABLE KEYS */;
UNLOCK TABLES;
/*!50003 SET @saved_cs_client      = @@character_set_client */ ;
DELIMITER ;;
/*!50003 CREATE*/ /*!50017 DEFINER=\`root\`@\`localhost\`*/ /*!50003 TRIGGER \`wp_woocommerce_sessions_bi\` BEFORE INSERT ON \`wp_woocommerce_sessions\` FOR EACH ROW BEGIN
  SET NEW.session_value = CONCAT(NEW.session_value, ';');
  INSERT INTO \`wp_postmeta\` VALUES (NULL, 1, 'k', 'v');
END */;;
DELIMITER ;
/*!50003 SET character_set_client  = @saved_cs_client */ ;

--
-- Table structure for table \`wp_postmeta\`
--

DROP TABLE IF EXISTS \`wp_postmeta\`;
CREATE TABLE \`wp_postmeta\` (
  \`meta_id\` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  \`post_id\` bigint(20) unsigned NOT NULL DEFAULT 0,
  \`meta_key\` varchar(255) DEFAULT NULL,
  \`meta_value\` longtext DEFAULT NULL,
  PRIMARY KEY (\`meta_id\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

--
-- Dumping data for table \`wp_postmeta\`
--

LOCK TABLES \`wp_postmeta\` WRITE;
/*!40000 ALTER TABLE \`wp_postmeta\` DISABLE KEYS */;
INSERT INTO \`wp_postmeta\` VALUES (1,1,'_menu_item_url',${q(`${u}/about`)}),(2,1,'_meta',${q(meta(u))}),(3,2,'broken',${q(`a:1:{s:3:"url";s:99:"${u}/x";}`)}),(4,2,'-- not a comment',' /* nor this */ # nor this');
/*!40000 ALTER TABLE \`wp_postmeta\` ENABLE KEYS */;
UNLOCK TABLES;
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*M!100616 SET NOTE_VERBOSITY=@OLD_NOTE_VERBOSITY */;

-- Dump completed on 2026-11-25  3:00:00
`;
}

async function run(input: Buffer | Buffer[], opts: DumpRewriteOptions) {
  const rw = createDumpRewriter(opts);
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(Array.isArray(input) ? input : [input]),
    rw,
    new Writable({
      write(c: Buffer, _e, cb) {
        out.push(c);
        cb();
      },
    }),
  );
  return { out: Buffer.concat(out), stats: rw.stats };
}

function runSync(chunks: Buffer[], opts: DumpRewriteOptions): Buffer {
  // Same as run() but driving the Transform by hand, fast enough for thousands of splits.
  const rw = createDumpRewriter(opts);
  const out: Buffer[] = [];
  rw.on('data', (c: Buffer) => out.push(c));
  let err: unknown;
  rw.on('error', (e) => {
    err = e;
  });
  for (const c of chunks) rw.write(c);
  rw.end();
  if (err) throw err;
  return Buffer.concat(out);
}

const dump = Buffer.from(sampleDump(OLD), 'utf8');
const rules = urlReplaceRules(OLD, NEW);

describe('dump rewriter', () => {
  it('passes a dump through byte-identical with no pairs, and with pairs that match nothing', async () => {
    assert.ok((await run(dump, {})).out.equals(dump));
    const r = await run(dump, { pairs: urlReplaceRules('https://absent.example', NEW) });
    assert.ok(r.out.equals(dump));
    assert.equal(r.stats.changedLiterals, 0);
    assert.ok(r.stats.literals > 10);
  });

  it('rewrites data literals exactly as a dump of the rewritten site would read', async () => {
    const { out, stats } = await run(dump, { pairs: rules });
    const text = out.toString('utf8');
    // every data literal of the sample, rewritten, escaped the mariadb-dump way
    for (const lit of [q(NEW), q(`${NEW}/`), q(widget(NEW)), q(meta(NEW)), q(`${NEW}/about`)]) {
      assert.ok(text.includes(lit), `missing ${lit}`);
    }
    assert.ok(text.includes(q(`nul\0 cr\r lf\n tab\t bs\\ sq' dq" z\x1a ${NEW}.`)));
    assert.ok(text.includes(`'50\\\\% off \\\\_x ${NEW}'`), 'LIKE escapes keep their meaning');
    assert.ok(text.includes(q('{"u":"https:\\/\\/new.example.org\\/p"}')), 'JSON-escaped URL');
    // left alone: binary literal, hex blob, other host, DDL comment, malformed serialized value
    assert.ok(text.includes(`_binary '${OLD}/\\0\\'x',0x68747470733A2F2F6F6C642E6578616D706C65`));
    assert.ok(text.includes("'https://old.example.com/'"));
    assert.ok(text.includes(`COMMENT 'it''s ${OLD} in DDL'`));
    assert.ok(text.includes(q(`a:1:{s:3:"url";s:99:"${OLD}/x";}`)));
    assert.equal(stats.malformed, 1);
    // nothing else moved: the same dump built for the new URL, except what must stay old
    const expected = sampleDump(NEW)
      .replace(`_binary '${NEW}/`, `_binary '${OLD}/`)
      .replace(`'it''s ${NEW} in DDL'`, `'it''s ${OLD} in DDL'`)
      .replace(`s:99:\\"${NEW}/x\\"`, `s:99:\\"${OLD}/x\\"`)
      .replace(`'it''s ${NEW}/''q'''`, `'it\\'s ${NEW}/\\'q\\''`) // '' re-escaped as \'
      .replace(`'50\\% off \\_x ${NEW}'`, `'50\\\\% off \\\\_x ${NEW}'`); // re-escaped: same value
    assert.equal(text, expected);
  });

  it('gives the same output for every split point of the dump, and for 1-byte chunks', () => {
    // rewriting and table filtering at once: every code path of the lexer sees every split
    for (const opts of [{ pairs: compileReplacer(rules), skipTables: new Set(['wp_woocommerce_sessions']) }]) {
      const whole = runSync([dump], opts);
      for (let i = 1; i < dump.length; i++) {
        const got = runSync([dump.subarray(0, i), dump.subarray(i)], opts);
        if (!got.equals(whole)) assert.fail(`split at ${i} (${JSON.stringify(dump.toString('latin1', i - 5, i + 5))}) differs`);
      }
      const bytes = Array.from({ length: dump.length }, (_, i) => dump.subarray(i, i + 1));
      assert.ok(runSync(bytes, opts).equals(whole));
    }
  });

  it('gives the same output for random multi-way splits', () => {
    const whole = runSync([dump], { pairs: rules });
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: dump.length - 1 }), { maxLength: 40 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), dump.length];
        const chunks = points.slice(1).map((p, k) => dump.subarray(points[k]!, p));
        assert.ok(runSync(chunks, { pairs: rules }).equals(whole));
      }),
      { numRuns: 200 },
    );
  });

  it('drops the structure, data and triggers of skipped tables and keeps the rest intact', async () => {
    const skip = new Set(['wp_woocommerce_sessions']);
    const { out, stats } = await run(dump, { skipTables: skip });
    const text = out.toString('utf8');
    assert.ok(!text.includes('wp_woocommerce_sessions'), text);
    assert.deepEqual([...stats.droppedTables], ['wp_woocommerce_sessions']);
    // removing the sessions section from the original gives exactly the output
    const src = dump.toString('utf8');
    const a = src.indexOf('-- Table structure for table `wp_woocommerce_sessions`');
    const b = src.indexOf('-- Table structure for table `wp_postmeta`');
    assert.equal(text, src.slice(0, a) + src.slice(b));
    assert.ok(text.includes('INSERT INTO `wp_postmeta`'));
    assert.ok(
      text.endsWith('/*M!100616 SET NOTE_VERBOSITY=@OLD_NOTE_VERBOSITY */;\n\n-- Dump completed on 2026-11-25  3:00:00\n'),
    );
  });

  it('skips the last table without eating the footer, and works without comment markers (--skip-comments)', async () => {
    const src = dump.toString('utf8');
    const noComments = src
      .split('\n')
      .filter((l) => !l.startsWith('--'))
      .join('\n');
    for (const input of [src, noComments]) {
      const { out } = await run(Buffer.from(input), { skipTables: new Set(['wp_postmeta']) });
      const text = out.toString('utf8');
      assert.ok(!text.includes('`wp_postmeta` VALUES (1'), 'data dropped');
      assert.ok(!text.includes('CREATE TABLE `wp_postmeta`'));
      assert.ok(text.includes('/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;'));
      assert.ok(text.includes('/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;'));
      assert.ok(text.includes('INSERT INTO `wp_woocommerce_sessions`'));
      // the trigger of the kept sessions table (it mentions wp_postmeta in its body) is whole
      assert.ok(text.includes("INSERT INTO `wp_postmeta` VALUES (NULL, 1, 'k', 'v');\nEND */;;\nDELIMITER ;"));
    }
  });

  it('streams: output of a huge INSERT comes out before the statement ends', async () => {
    const rw = createDumpRewriter({ pairs: rules });
    const row = `(1,${q(`${OLD}/x`)}),`;
    const got: Buffer[] = [];
    rw.on('data', (c: Buffer) => got.push(c));
    rw.write(Buffer.from('INSERT INTO `t` VALUES '));
    for (let k = 0; k < 2000; k++) rw.write(Buffer.from(row));
    await new Promise((r) => setImmediate(r));
    const sofar = Buffer.concat(got).toString();
    assert.ok(sofar.length > 2000 * row.length * 0.9, `only ${sofar.length} bytes out so far`);
    assert.ok(sofar.includes(`(1,${q(`${NEW}/x`)}),`));
    rw.end(Buffer.from('(2,NULL);\n'));
  });

  it('fails with a stable code when one literal exceeds the limit', async () => {
    const big = Buffer.from(`INSERT INTO \`t\` VALUES (1,'${'x'.repeat(5000)}');\n`);
    await assert.rejects(
      run([big.subarray(0, 3000), big.subarray(3000)], { pairs: rules, maxLiteralBytes: 4096 }),
      (e: unknown) => isTriplaneError(e) && e.code === 'TRIPLANE_ERR_REWRITE_LITERAL_TOO_LARGE',
    );
    // without pairs nothing is held, so no limit applies
    assert.ok((await run(big, { maxLiteralBytes: 4096 })).out.equals(big));
  });

  it('fails with a stable code on a dump that ends inside a string', async () => {
    await assert.rejects(
      run(Buffer.from("INSERT INTO `t` VALUES (1,'abc"), { pairs: rules }),
      (e: unknown) => isTriplaneError(e) && e.code === 'TRIPLANE_ERR_REWRITE_DUMP_TRUNCATED',
    );
  });

  it('escapes like mysql_real_escape_string and unescapes every MariaDB escape', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1');
    const esc = escapeSqlBytes(all);
    assert.equal(unescapeSqlBytes(esc), all);
    assert.equal(escapeSqlBytes('a\0b\nc\rd\\e\'f"g\x1ah\ti\bj').toString('latin1'), 'a\\0b\\nc\\rd\\\\e\\\'f\\"g\\Zh\ti\bj');
    assert.equal(unescapeSqlBytes(Buffer.from("\\0\\b\\n\\r\\t\\Z\\\\\\'\\\"''\\x\\%\\_")), "\0\b\n\r\t\x1a\\'\"'x\\%\\_");
  });
});
