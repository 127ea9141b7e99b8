/** Transformations by lower-cased `t:` name. One implementation per file. */
import { base64Decode } from './base64-decode.ts';
import { base64Encode } from './base64-encode.ts';
import { cmdLine } from './cmd-line.ts';
import { compressWhitespace } from './compress-whitespace.ts';
import { cssDecode } from './css-decode.ts';
import { hexDecode } from './hex-decode.ts';
import { hexEncode } from './hex-encode.ts';
import { htmlEntityDecode } from './html-entity-decode.ts';
import { jsDecode } from './js-decode.ts';
import { length } from './length.ts';
import { lowercase } from './lowercase.ts';
import { md5 } from './md5.ts';
import { normalisePath, normalizePath } from './normalize-path.ts';
import { normalisePathWin, normalizePathWin } from './normalize-path-win.ts';
import { removeNulls } from './remove-nulls.ts';
import { removeWhitespace } from './remove-whitespace.ts';
import { replaceComments } from './replace-comments.ts';
import { replaceNulls } from './replace-nulls.ts';
import { sha1 } from './sha1.ts';
import { trim, trimLeft, trimRight } from './trim.ts';
import type { Transformation } from './types.ts';
import { uppercase } from './uppercase.ts';
import { urlDecode } from './url-decode.ts';
import { urlDecodeUni } from './url-decode-uni.ts';
import { urlEncode } from './url-encode.ts';
import { utf8toUnicode } from './utf8-to-unicode.ts';

export type { Transformation } from './types.ts';

const all: Transformation[] = [
  base64Decode,
  base64Encode,
  cmdLine,
  compressWhitespace,
  cssDecode,
  hexDecode,
  hexEncode,
  htmlEntityDecode,
  jsDecode,
  length,
  lowercase,
  md5,
  normalisePath,
  normalizePath,
  normalisePathWin,
  normalizePathWin,
  removeNulls,
  removeWhitespace,
  replaceComments,
  replaceNulls,
  sha1,
  trim,
  trimLeft,
  trimRight,
  uppercase,
  urlDecode,
  urlDecodeUni,
  urlEncode,
  utf8toUnicode,
];

export const transformations: ReadonlyMap<string, Transformation> = new Map(all.map((t) => [t.name.toLowerCase(), t]));
