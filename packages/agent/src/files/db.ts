import { spawn } from 'node:child_process';
import { TriplaneError } from '@triplane/kernel';

/**
 * The read-only database browser: the tables of an environment's database and pages of their
 * rows, through `podman exec <pod>-db mariadb` (root over the socket, inside the pod).
 *
 * Read-only by three locks: only statements built here run (a table name must be one of the
 * names information_schema listed, quoted as an identifier; offset/limit are checked integers);
 * the session is `SET SESSION TRANSACTION READ ONLY` (a write would fail with error 1792); and
 * every statement has `max_statement_time` (MariaDB kills it after STATEMENT_TIME_S).
 * Each row comes back as one JSON_ARRAY line (MariaDB does the escaping), text values cut to
 * VALUE_CHARS characters and binary ones shown as hex of their first VALUE_CHARS/2 bytes — so a
 * page is at most 200 × columns × ~1 KB. Secrets (password hashes, activation keys, session
 * tokens, API keys in *meta/options values) are masked before the answer leaves the server.
 */
export const MAX_LIMIT = 200;
export const VALUE_CHARS = 1024;
export const STATEMENT_TIME_S = 5;
const OUTPUT_CAP = 16 * 1024 * 1024;

/** Runs SQL in the environment's database container; returns stdout (JSON lines). */
export type SqlRunner = (sql: string) => Promise<string>;

export interface TableInfo {
  name: string;
  rowsEstimate: number;
  bytes: number;
  engine: string | null;
}

export interface ColumnInfo {
  name: string;
  type: string;
}

export interface RowsPage {
  table: string;
  columns: ColumnInfo[];
  rows: (string | number | null)[][];
  offset: number;
  limit: number;
  /** [row, column] of values cut to VALUE_CHARS */
  truncated: [number, number][];
  /** names of the columns (or, for key/value tables, the rows) whose values were masked */
  masked: string[];
}

export const MASK = '••••••••';

/** `podman exec -i <container> mariadb …` with a timeout and an output cap. */
export function podmanSqlRunner(container: string, database: string, o: { podman?: string; timeoutMs?: number } = {}): SqlRunner {
  return (sql) =>
    new Promise((resolve, reject) => {
      const child = spawn(
        o.podman ?? 'podman',
        [
          'exec',
          '-i',
          container,
          'mariadb',
          '--batch',
          '--raw',
          '--skip-column-names',
          '--default-character-set=utf8mb4',
          database,
        ],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      const out: Buffer[] = [];
      let size = 0;
      let err = '';
      let over = false;
      const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 15_000);
      child.stdout.on('data', (b: Buffer) => {
        size += b.length;
        if (size > OUTPUT_CAP) {
          over = true;
          child.kill('SIGKILL');
        } else out.push(b);
      });
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (d: string) => {
        err = (err + d).slice(-2000);
      });
      child.stdin.on('error', () => undefined);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(new TriplaneError('TRIPLANE_ERR_UNAVAILABLE', `cannot run podman: ${e.message}`));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (over) return reject(new TriplaneError('TRIPLANE_ERR_PAYLOAD_TOO_LARGE', 'the answer is too large'));
        if (signal) return reject(new TriplaneError('TRIPLANE_ERR_TIMEOUT', 'the database did not answer in time'));
        if (code !== 0) {
          const msg = err.trim().slice(-800);
          if (/max_statement_time|1969/.test(msg))
            return reject(new TriplaneError('TRIPLANE_ERR_TIMEOUT', `the query took longer than ${STATEMENT_TIME_S} s`));
          if (/no such container|no container with name|is not running|state improper/i.test(msg))
            return reject(new TriplaneError('TRIPLANE_ERR_UNAVAILABLE', `the database container is not running: ${msg}`));
          return reject(new TriplaneError('TRIPLANE_ERR_UNAVAILABLE', `MariaDB refused: ${msg || `exit ${code}`}`));
        }
        resolve(Buffer.concat(out).toString('utf8'));
      });
      child.stdin.end(sql);
    });
}

export const READ_ONLY_PRELUDE = `SET SESSION TRANSACTION READ ONLY; SET SESSION max_statement_time = ${STATEMENT_TIME_S};\n`;

export const ident = (s: string) => `\`${s.replace(/`/g, '``')}\``;
const str = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;

function jsonLines(out: string): unknown[][] {
  const rows: unknown[][] = [];
  for (const line of out.split('\n')) {
    if (!line.trim()) continue;
    try {
      const v = JSON.parse(line) as unknown;
      if (Array.isArray(v)) rows.push(v);
    } catch {
      throw new TriplaneError('TRIPLANE_ERR_INTERNAL', 'MariaDB answered something that is not a JSON row', {
        line: line.slice(0, 200),
      });
    }
  }
  return rows;
}

/** Tables of `database` with the row estimate and size information_schema keeps. */
export async function listTables(sql: SqlRunner, database: string): Promise<TableInfo[]> {
  const out = await sql(
    `${READ_ONLY_PRELUDE}SELECT JSON_ARRAY(TABLE_NAME, TABLE_ROWS, COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0), ENGINE) ` +
      `FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${str(database)} ORDER BY TABLE_NAME LIMIT 5000;`,
  );
  return jsonLines(out).map(([name, rows, bytes, engine]) => ({
    name: String(name),
    rowsEstimate: Number(rows ?? 0),
    bytes: Number(bytes ?? 0),
    engine: engine == null ? null : String(engine),
  }));
}

const BINARY = new Set([
  'binary',
  'varbinary',
  'tinyblob',
  'blob',
  'mediumblob',
  'longblob',
  'geometry',
  'point',
  'linestring',
  'polygon',
]);
// Exact in a JS number; bigint and decimal travel as strings (no precision lost).
const NUMERIC = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'float', 'double', 'bit', 'year']);

/** Column names whose values are always secrets (WordPress, WooCommerce, Magento, generic). */
const SECRET_COLUMN =
  /(^|_)(pass|passwd|password|password_hash|user_pass|user_activation_key|secret|token|api_key|apikey|private_key|activation_key|session_id|session_data|auth_key)($|_)/i;
/** In key/value tables (*usermeta, *options, *postmeta…): keys whose values are secrets. */
const SECRET_KEY =
  /session_tokens|password|passwd|secret|token|api_?key|private_key|auth_key|salt|nonce_key|logged_in_key|activation_key|license_key/i;
const KEY_COLUMNS = ['meta_key', 'option_name', 'name', 'path'];
const VALUE_COLUMNS = ['meta_value', 'option_value', 'value'];

/**
 * Mask secrets in a page of rows (in place): whole columns by name, and in key/value tables
 * the value of every row whose key names a secret. Pure; exported for tests.
 */
export function maskSecrets(columns: readonly ColumnInfo[], rows: (string | number | null)[][]): string[] {
  const masked = new Set<string>();
  const secretCols = columns.map((c, i) => (SECRET_COLUMN.test(c.name) ? i : -1)).filter((i) => i >= 0);
  const keyCol = columns.findIndex((c) => KEY_COLUMNS.includes(c.name.toLowerCase()));
  const valueCol = columns.findIndex((c) => VALUE_COLUMNS.includes(c.name.toLowerCase()));
  for (const row of rows) {
    for (const i of secretCols) {
      if (row[i] !== null && row[i] !== '') {
        row[i] = MASK;
        masked.add((columns[i] as ColumnInfo).name);
      }
    }
    if (keyCol >= 0 && valueCol >= 0) {
      const key = row[keyCol];
      if (typeof key === 'string' && SECRET_KEY.test(key) && row[valueCol] !== null && row[valueCol] !== '') {
        row[valueCol] = MASK;
        masked.add(key);
      }
    }
  }
  return [...masked];
}

/** One page of a table's rows. `table` must be one listTables returned. */
export async function readRows(
  sql: SqlRunner,
  database: string,
  table: string,
  o: { offset: number; limit: number },
): Promise<RowsPage> {
  if (!Number.isSafeInteger(o.offset) || o.offset < 0)
    throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'offset must be an integer ≥ 0', { offset: o.offset });
  if (!Number.isSafeInteger(o.limit) || o.limit < 1 || o.limit > MAX_LIMIT)
    throw new TriplaneError('TRIPLANE_ERR_VALIDATION', `limit must be an integer from 1 to ${MAX_LIMIT}`, { limit: o.limit });
  const tables = await listTables(sql, database);
  if (!tables.some((t) => t.name === table))
    throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', `no table ${table} in the database`, { table });
  const colOut = await sql(
    `${READ_ONLY_PRELUDE}SELECT JSON_ARRAY(COLUMN_NAME, DATA_TYPE, COLUMN_TYPE) FROM information_schema.COLUMNS ` +
      `WHERE TABLE_SCHEMA = ${str(database)} AND TABLE_NAME = ${str(table)} ORDER BY ORDINAL_POSITION;`,
  );
  const cols = jsonLines(colOut).map(([name, dataType, colType]) => ({
    name: String(name),
    dataType: String(dataType).toLowerCase(),
    type: String(colType),
  }));
  if (cols.length === 0) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', `no table ${table} in the database`, { table });
  // One more character than shown tells us a value was cut.
  const exprs = cols.map((c) => {
    const col = ident(c.name);
    if (BINARY.has(c.dataType)) return `IF(${col} IS NULL, NULL, CONCAT('0x', HEX(LEFT(${col}, ${VALUE_CHARS / 2 + 1}))))`;
    if (NUMERIC.has(c.dataType)) return c.dataType === 'bit' ? `CAST(${col} AS UNSIGNED)` : col;
    return `LEFT(${col}, ${VALUE_CHARS + 1})`;
  });
  const out = await sql(
    `${READ_ONLY_PRELUDE}SELECT JSON_ARRAY(${exprs.join(', ')}) FROM ${ident(table)} LIMIT ${o.limit} OFFSET ${o.offset};`,
  );
  const truncated: [number, number][] = [];
  const rows = jsonLines(out).map((r, ri) =>
    cols.map((c, ci) => {
      const v = r[ci];
      if (v === null || v === undefined) return null;
      if (typeof v === 'number') return v;
      let s = typeof v === 'string' ? v : JSON.stringify(v);
      const max = BINARY.has(c.dataType) ? 2 + VALUE_CHARS : VALUE_CHARS;
      if (s.length > max) {
        s = s.slice(0, max);
        truncated.push([ri, ci]);
      }
      return s;
    }),
  );
  const columns = cols.map((c) => ({ name: c.name, type: c.type }));
  const masked = maskSecrets(columns, rows);
  return { table, columns, rows, offset: o.offset, limit: o.limit, truncated, masked };
}
