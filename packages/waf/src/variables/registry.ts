/**
 * Variables by upper-cased name. A collection variable yields keyed entries (`ARGS:id`), a
 * scalar one a single value (or nothing when unavailable). Selection by key, regex, exclusion
 * and counting is generic (engine/targets.ts); a variable only says where its data lives.
 *
 * Example: variables.get('REQUEST_HEADERS')!.entries(tx) → [{ key: 'Host', value: 'x' }, …]
 */
import type { Arg } from '../body/types.ts';
import type { Transaction } from '../engine/transaction.ts';

export interface Variable {
  readonly name: string;
  /** changes while rules run (TX, MATCHED_VAR…): never cached between rules */
  readonly volatile?: boolean;
  /** lower-cased collection name for TX/IP/GLOBAL/SESSION/USER/RESOURCE */
  readonly persistent?: string;
  /** keyed entries (collections) */
  entries?(tx: Transaction): readonly Arg[];
  /** keyed lookup fast path; key already lower-cased */
  lookup?(tx: Transaction, lkey: string): readonly Arg[];
  /** single value (scalars); undefined = variable absent */
  value?(tx: Transaction): string | undefined;
}

const byName = (list: readonly Arg[], lkey: string): Arg[] => list.filter((a) => a.name.toLowerCase() === lkey);
const coll = (name: string, get: (tx: Transaction) => readonly Arg[]): Variable => ({
  name,
  entries: get,
  lookup: (tx, k) => byName(get(tx), k),
});
const names = (name: string, get: (tx: Transaction) => readonly Arg[]): Variable => ({
  name,
  entries: (tx) => get(tx).map((a) => ({ name: a.name, value: a.name })),
  lookup: (tx, k) => byName(get(tx), k).map((a) => ({ name: a.name, value: a.name })),
});
const scalar = (name: string, get: (tx: Transaction) => string | undefined): Variable => ({ name, value: get });
const persistent = (name: string): Variable => ({
  name,
  volatile: true,
  persistent: name.toLowerCase(),
  entries: (tx) => tx.collectionEntries(name.toLowerCase()),
  lookup: (tx, k) => {
    const e = tx.collectionGet(name.toLowerCase(), k);
    return e ? [e] : [];
  },
});

const volatile = (v: Variable): Variable => ({ ...v, volatile: true });

const all: Variable[] = [
  coll('ARGS', (tx) => tx.args()),
  names('ARGS_NAMES', (tx) => tx.args()),
  coll('ARGS_GET', (tx) => tx.argsGet),
  names('ARGS_GET_NAMES', (tx) => tx.argsGet),
  coll('ARGS_POST', (tx) => tx.argsPost),
  names('ARGS_POST_NAMES', (tx) => tx.argsPost),
  scalar('ARGS_COMBINED_SIZE', (tx) => String(tx.args().reduce((n, a) => n + a.name.length + a.value.length, 0))),
  coll('REQUEST_HEADERS', (tx) => tx.requestHeaders),
  names('REQUEST_HEADERS_NAMES', (tx) => tx.requestHeaders),
  coll('REQUEST_COOKIES', (tx) => tx.cookies()),
  names('REQUEST_COOKIES_NAMES', (tx) => tx.cookies()),
  coll('RESPONSE_HEADERS', (tx) => tx.responseHeaders),
  names('RESPONSE_HEADERS_NAMES', (tx) => tx.responseHeaders),
  coll('FILES', (tx) => tx.files.map((f) => ({ name: f.name, value: f.filename }))),
  coll('FILES_NAMES', (tx) => tx.files.map((f) => ({ name: f.name, value: f.name }))),
  coll('FILES_SIZES', (tx) => tx.files.map((f) => ({ name: f.name, value: String(f.size) }))),
  coll('FILES_TMP_CONTENT', (tx) => tx.files.map((f) => ({ name: f.name, value: f.content }))),
  coll('FILES_TMPNAMES', () => []),
  scalar('FILES_COMBINED_SIZE', (tx) => String(tx.files.reduce((n, f) => n + f.size, 0))),
  coll('MULTIPART_PART_HEADERS', (tx) => tx.multipart?.partHeaders ?? []),
  coll('MULTIPART_FILENAME', (tx) => (tx.multipart?.filenames ?? []).map((v) => ({ name: v, value: v }))),
  coll('MULTIPART_NAME', (tx) => (tx.multipart?.names ?? []).map((v) => ({ name: v, value: v }))),
  scalar('MULTIPART_STRICT_ERROR', (tx) => tx.multipartFlag('strict')),
  scalar('MULTIPART_UNMATCHED_BOUNDARY', (tx) => tx.multipartFlag('unmatchedBoundary')),
  scalar('MULTIPART_BOUNDARY_QUOTED', (tx) => tx.multipartFlag('boundaryQuoted')),
  scalar('MULTIPART_BOUNDARY_WHITESPACE', (tx) => tx.multipartFlag('boundaryWhitespace')),
  scalar('MULTIPART_DATA_BEFORE', (tx) => tx.multipartFlag('dataBefore')),
  scalar('MULTIPART_DATA_AFTER', (tx) => tx.multipartFlag('dataAfter')),
  scalar('MULTIPART_HEADER_FOLDING', (tx) => tx.multipartFlag('headerFolding')),
  scalar('MULTIPART_LF_LINE', (tx) => tx.multipartFlag('lfLine')),
  scalar('MULTIPART_CRLF_LF_LINES', (tx) =>
    tx.multipart ? (tx.multipart.flags.lfLine && tx.multipart.flags.crlfLine ? '1' : '0') : '0',
  ),
  scalar('MULTIPART_MISSING_SEMICOLON', (tx) => tx.multipartFlag('missingSemicolon')),
  scalar('MULTIPART_INVALID_QUOTING', (tx) => tx.multipartFlag('invalidQuoting')),
  scalar('MULTIPART_INVALID_PART', (tx) => tx.multipartFlag('invalidPart')),
  scalar('MULTIPART_INVALID_HEADER_FOLDING', (tx) => tx.multipartFlag('invalidHeaderFolding')),
  scalar('MULTIPART_FILE_LIMIT_EXCEEDED', (tx) => tx.multipartFlag('fileLimitExceeded')),
  scalar('REQUEST_METHOD', (tx) => tx.req.method),
  scalar('REQUEST_PROTOCOL', (tx) => tx.req.protocol),
  scalar('REQUEST_LINE', (tx) => tx.requestLine),
  scalar('REQUEST_URI', (tx) => tx.requestUri),
  scalar('REQUEST_URI_RAW', (tx) => tx.req.uri),
  scalar('REQUEST_FILENAME', (tx) => tx.path),
  scalar('REQUEST_BASENAME', (tx) => tx.basename),
  scalar('QUERY_STRING', (tx) => tx.queryString),
  scalar('REQUEST_BODY', (tx) => tx.requestBodyVar()),
  scalar('REQUEST_BODY_LENGTH', (tx) => String(tx.req.body?.length ?? 0)),
  scalar('REQBODY_PROCESSOR', (tx) => tx.bodyProcessor),
  scalar('REQBODY_ERROR', (tx) => (tx.bodyError !== undefined ? '1' : '0')),
  scalar('REQBODY_ERROR_MSG', (tx) => tx.bodyError ?? ''),
  scalar('REQBODY_PROCESSOR_ERROR', (tx) => (tx.bodyError !== undefined ? '1' : '0')),
  scalar('REQBODY_PROCESSOR_ERROR_MSG', (tx) => tx.bodyError ?? ''),
  scalar('INBOUND_DATA_ERROR', (tx) => (tx.bodyTruncated ? '1' : '0')),
  scalar('OUTBOUND_DATA_ERROR', () => '0'),
  scalar('URLENCODED_ERROR', (tx) => (tx.urlencodedInvalid ? '1' : '0')),
  scalar('REMOTE_ADDR', (tx) => tx.req.remoteAddr),
  scalar('REMOTE_HOST', (tx) => tx.req.remoteAddr),
  scalar('REMOTE_PORT', (tx) => String(tx.req.remotePort ?? 0)),
  scalar('REMOTE_USER', () => ''),
  scalar('SERVER_ADDR', (tx) => tx.req.serverAddr ?? '127.0.0.1'),
  scalar('SERVER_NAME', (tx) => tx.hostHeader()),
  scalar('SERVER_PORT', (tx) => String(tx.req.serverPort ?? 80)),
  scalar('UNIQUE_ID', (tx) => tx.req.uniqueId),
  scalar('RESPONSE_STATUS', (tx) => (tx.res ? String(tx.res.status) : undefined)),
  scalar('RESPONSE_PROTOCOL', (tx) => tx.res?.protocol ?? 'HTTP/1.1'),
  scalar('RESPONSE_BODY', (tx) => tx.responseBodyVar()),
  scalar('RESPONSE_CONTENT_TYPE', (tx) => tx.responseHeaders.find((h) => h.name.toLowerCase() === 'content-type')?.value),
  scalar('RESPONSE_CONTENT_LENGTH', (tx) => (tx.res?.body !== undefined ? String(tx.res.body.length) : undefined)),
  scalar('STATUS_LINE', (tx) => (tx.res ? `${tx.res.protocol ?? 'HTTP/1.1'} ${tx.res.status}` : undefined)),
  volatile(scalar('DURATION', (tx) => String(Math.round(tx.elapsedMicros())))),
  volatile(scalar('TIME', () => new Date().toTimeString().slice(0, 8))),
  volatile(scalar('TIME_EPOCH', () => String(Math.floor(Date.now() / 1000)))),
  volatile(scalar('TIME_SEC', () => String(new Date().getSeconds()))),
  volatile(scalar('TIME_MIN', () => String(new Date().getMinutes()))),
  volatile(scalar('TIME_HOUR', () => String(new Date().getHours()))),
  volatile(scalar('TIME_DAY', () => String(new Date().getDate()))),
  volatile(scalar('TIME_MON', () => String(new Date().getMonth() + 1))),
  volatile(scalar('TIME_YEAR', () => String(new Date().getFullYear()))),
  volatile(scalar('TIME_WDAY', () => String(new Date().getDay()))),
  volatile(scalar('MATCHED_VAR', (tx) => tx.matchedVar?.value ?? '')),
  volatile(scalar('MATCHED_VAR_NAME', (tx) => tx.matchedVar?.name ?? '')),
  volatile(coll('MATCHED_VARS', (tx) => tx.matchedVars())),
  volatile(names('MATCHED_VARS_NAMES', (tx) => tx.matchedVars())),
  volatile(scalar('HIGHEST_SEVERITY', (tx) => String(tx.highestSeverity))),
  scalar('WEBSERVER_ERROR_LOG', () => undefined),
  scalar('FULL_REQUEST', (tx) => tx.fullRequest()),
  scalar('FULL_REQUEST_LENGTH', (tx) => String(tx.fullRequest().length)),
  volatile(coll('ENV', (tx) => [...tx.env].map(([name, value]) => ({ name, value })))),
  coll('GEO', () => []),
  volatile(coll('RULE', (tx) => tx.ruleCollection())),
  {
    name: 'XML',
    entries: (tx) => tx.xmlEntries('/*'),
    lookup: (tx, k) => tx.xmlEntries(k),
  },
  persistent('TX'),
  persistent('IP'),
  persistent('GLOBAL'),
  persistent('SESSION'),
  persistent('USER'),
  persistent('RESOURCE'),
];

export const variables: ReadonlyMap<string, Variable> = new Map(all.map((v) => [v.name, v]));
