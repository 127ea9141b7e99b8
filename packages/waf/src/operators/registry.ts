/** Operators by lower-cased name (without `@`). One implementation per file. */
import { beginsWith } from './begins-with.ts';
import { contains } from './contains.ts';
import { containsWordOp } from './contains-word.ts';
import { detectSQLi } from './detect-sqli.ts';
import { detectXSS } from './detect-xss.ts';
import { endsWith } from './ends-with.ts';
import { ipMatch, ipMatchFromFile } from './ip-match.ts';
import { geoLookup, noMatch, rbl, unconditionalMatch } from './misc.ts';
import { eq, ge, gt, le, lt } from './numeric.ts';
import { pm } from './pm.ts';
import { pmFromFile, pmf } from './pm-from-file.ts';
import { rx } from './rx.ts';
import { streq } from './streq.ts';
import type { Operator } from './types.ts';
import { validateByteRange } from './validate-byte-range.ts';
import { validateUrlEncoding } from './validate-url-encoding.ts';
import { validateUtf8Encoding } from './validate-utf8-encoding.ts';
import { within } from './within.ts';

export type { CompileContext, Operator, OperatorFn, OperatorTx } from './types.ts';

const all: Operator[] = [
  beginsWith,
  contains,
  containsWordOp,
  detectSQLi,
  detectXSS,
  endsWith,
  eq,
  ge,
  geoLookup,
  gt,
  ipMatch,
  ipMatchFromFile,
  le,
  lt,
  noMatch,
  pm,
  pmf,
  pmFromFile,
  rbl,
  rx,
  streq,
  unconditionalMatch,
  validateByteRange,
  validateUrlEncoding,
  validateUtf8Encoding,
  within,
];

export const operators: ReadonlyMap<string, Operator> = new Map(all.map((o) => [o.name.toLowerCase(), o]));
