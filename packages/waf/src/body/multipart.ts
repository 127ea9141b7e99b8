/**
 * multipart/form-data as ModSecurity 2 parses it (msc_multipart.c), with the strict-validation
 * flags CRS and the base config read (MULTIPART_STRICT_ERROR and friends). The body is a latin1
 * byte string. Non-file parts become ARGS_POST; file parts FILES/FILES_NAMES/FILES_SIZES.
 */
import type { Arg } from './types.ts';

export interface MultipartFlags {
  boundaryQuoted: boolean;
  boundaryWhitespace: boolean;
  dataBefore: boolean;
  dataAfter: boolean;
  headerFolding: boolean;
  lfLine: boolean;
  crlfLine: boolean;
  missingSemicolon: boolean;
  invalidQuoting: boolean;
  invalidPart: boolean;
  invalidHeaderFolding: boolean;
  fileLimitExceeded: boolean;
  unmatchedBoundary: boolean;
}

export interface MultipartFile {
  name: string;
  filename: string;
  size: number;
  content: string;
}

export interface MultipartResult {
  args: Arg[];
  files: MultipartFile[];
  /** MULTIPART_PART_HEADERS: part name → each header line of that part */
  partHeaders: Arg[];
  /** MULTIPART_NAME / MULTIPART_FILENAME */
  names: string[];
  filenames: string[];
  flags: MultipartFlags;
  /** processing error (REQBODY_ERROR / REQBODY_PROCESSOR_ERROR), if any */
  error: string | undefined;
}

const BOUNDARY_CHARS = /^[0-9A-Za-z'()+_,\-./:=? ]+$/;

function emptyFlags(): MultipartFlags {
  return {
    boundaryQuoted: false,
    boundaryWhitespace: false,
    dataBefore: false,
    dataAfter: false,
    headerFolding: false,
    lfLine: false,
    crlfLine: false,
    missingSemicolon: false,
    invalidQuoting: false,
    invalidPart: false,
    invalidHeaderFolding: false,
    fileLimitExceeded: false,
    unmatchedBoundary: false,
  };
}

export function strictError(f: MultipartFlags, error: string | undefined): boolean {
  return (
    error !== undefined ||
    f.boundaryQuoted ||
    f.boundaryWhitespace ||
    f.dataBefore ||
    f.dataAfter ||
    f.headerFolding ||
    f.lfLine ||
    f.missingSemicolon ||
    f.invalidQuoting ||
    f.invalidPart ||
    f.invalidHeaderFolding ||
    f.fileLimitExceeded
  );
}

/** Extracts the boundary from a Content-Type value, setting the C-T related flags. */
export function extractBoundary(contentType: string, flags: MultipartFlags): { boundary?: string; error?: string } {
  const lc = contentType.toLowerCase();
  const at = lc.indexOf('boundary');
  if (at < 0) return { error: 'Multipart: Boundary not found in C-T' };
  // like multipart_count_boundary_params: only "boundary" followed by `=` counts
  if ((lc.match(/boundary[\t\n\v\f\r ]*=/g) ?? []).length > 1) return { error: 'Multipart: Multiple boundary parameters in C-T' };
  // the parameter must follow a ';' (after optional whitespace)
  const before = contentType.slice(0, at).replace(/[ \t]+$/, '');
  if (!before.endsWith(';')) {
    if (before.endsWith(',')) flags.missingSemicolon = true;
    else flags.missingSemicolon = true;
  }
  let i = at + 8;
  let ws = false;
  while (contentType[i] === ' ' || contentType[i] === '\t') {
    i++;
    ws = true;
  }
  if (contentType[i] !== '=') return { error: 'Multipart: Invalid boundary in C-T (malformed)' };
  i++;
  while (contentType[i] === ' ' || contentType[i] === '\t') {
    i++;
    ws = true;
  }
  if (ws) flags.boundaryWhitespace = true;
  let b = contentType.slice(i);
  if (b.startsWith('"')) {
    flags.boundaryQuoted = true;
    const end = b.indexOf('"', 1);
    if (end < 0) return { error: 'Multipart: Invalid boundary in C-T (quote)' };
    b = b.slice(1, end);
  } else {
    const semi = b.search(/[;,]/);
    if (semi >= 0) b = b.slice(0, semi);
    const t = b.replace(/[ \t]+$/, '');
    if (t !== b) flags.boundaryWhitespace = true;
    b = t;
  }
  if (b === '' || b.length > 70 || !BOUNDARY_CHARS.test(b)) return { error: 'Multipart: Invalid boundary in C-T (characters)' };
  return { boundary: b };
}

export function parseMultipart(body: string, contentType: string, fileLimit = 100): MultipartResult {
  const flags = emptyFlags();
  const res: MultipartResult = { args: [], files: [], partHeaders: [], names: [], filenames: [], flags, error: undefined };
  const cb = extractBoundary(contentType, flags);
  if (cb.error || !cb.boundary) {
    res.error = cb.error ?? 'Multipart: no boundary';
    return res;
  }
  const boundary = cb.boundary;
  const delim = '--' + boundary;

  // split into lines keeping their terminators
  const lines: Array<{ text: string; eol: string }> = [];
  for (let i = 0; i < body.length; ) {
    const nl = body.indexOf('\n', i);
    if (nl < 0) {
      lines.push({ text: body.slice(i), eol: '' });
      break;
    }
    const cr = nl > i && body[nl - 1] === '\r';
    lines.push({ text: body.slice(i, cr ? nl - 1 : nl), eol: cr ? '\r\n' : '\n' });
    i = nl + 1;
  }

  type Part = { headers: Array<[string, string]>; headerLines: string[]; data: string[]; inHeaders: boolean };
  let part: Part | undefined;
  let seenFirst = false;
  let final = false;
  const finishPart = (p: Part): void => {
    // the line break before the next boundary belongs to the boundary, not the data
    let data = p.data.join('');
    if (data.endsWith('\r\n')) data = data.slice(0, -2);
    else if (data.endsWith('\n')) data = data.slice(0, -1);
    const cd = p.headers.find(([h]) => h.toLowerCase() === 'content-disposition');
    if (!cd) {
      res.error ??= 'Multipart: Part missing Content-Disposition header';
      return;
    }
    const parsed = parseDisposition(cd[1], flags);
    if (parsed.error) {
      res.error ??= parsed.error;
      return;
    }
    const name = parsed.name ?? '';
    if (parsed.name === undefined) {
      res.error ??= 'Multipart: Content-Disposition header missing name field';
      return;
    }
    res.names.push(name);
    for (const l of p.headerLines) res.partHeaders.push({ name, value: l });
    if (parsed.filename !== undefined) {
      if (res.files.length >= fileLimit) {
        flags.fileLimitExceeded = true;
        return;
      }
      res.filenames.push(parsed.filename);
      res.files.push({ name, filename: parsed.filename, size: data.length, content: data });
    } else {
      res.args.push({ name, value: data });
    }
  };

  for (const line of lines) {
    const isBoundary = line.text.startsWith(delim);
    if (isBoundary) {
      const rest = line.text.slice(delim.length);
      if (rest === '' || rest === '--' || /^[ \t]*$/.test(rest) || /^--[ \t]*$/.test(rest)) {
        if (line.eol === '\n') flags.lfLine = true;
        else if (line.eol === '\r\n') flags.crlfLine = true;
        if (part) finishPart(part);
        part = undefined;
        seenFirst = true;
        if (rest.startsWith('--')) {
          final = true;
          break;
        }
        part = { headers: [], headerLines: [], data: [], inHeaders: true };
        continue;
      }
      // "--boundaryXYZ": looks like our boundary but is not
      flags.unmatchedBoundary = true;
    } else if (line.text.startsWith('--') && line.text.includes(boundary)) {
      flags.unmatchedBoundary = true;
    }
    if (!seenFirst) {
      if (line.text !== '' || line.eol !== '') flags.dataBefore = true;
      continue;
    }
    if (!part) continue;
    if (part.inHeaders) {
      if (line.eol === '\n') flags.lfLine = true;
      else if (line.eol === '\r\n') flags.crlfLine = true;
      if (line.text === '') {
        part.inHeaders = false;
        continue;
      }
      if (line.text.startsWith(' ') || line.text.startsWith('\t')) {
        flags.headerFolding = true;
        const last = part.headers[part.headers.length - 1];
        if (!last) {
          flags.invalidHeaderFolding = true;
          res.error ??= 'Multipart: Invalid header folding';
          continue;
        }
        last[1] += ' ' + line.text.trim();
        part.headerLines[part.headerLines.length - 1] += ' ' + line.text.trim();
        continue;
      }
      const colon = line.text.indexOf(':');
      if (colon <= 0) {
        res.error ??= 'Multipart: Invalid part header (colon missing)';
        continue;
      }
      const hname = line.text.slice(0, colon);
      if (!/^[!-9;-~]+$/.test(hname)) {
        res.error ??= 'Multipart: Invalid part header (header name invalid)';
        continue;
      }
      part.headers.push([hname, line.text.slice(colon + 1).replace(/^[ \t]+/, '')]);
      part.headerLines.push(line.text);
      continue;
    }
    part.data.push(line.text + line.eol);
  }
  if (!final) {
    res.error ??= seenFirst ? 'Multipart: Final boundary missing' : 'Multipart: No boundaries found in payload';
    if (part) finishPart(part);
  } else {
    // anything after the final boundary line
    const idx = lines.findIndex((l) => l.text.startsWith(delim + '--'));
    const after = lines.slice(idx + 1);
    if (after.some((l) => l.text !== '')) flags.dataAfter = true;
  }
  return res;
}

function parseDisposition(v: string, flags: MultipartFlags): { name?: string; filename?: string; error?: string } {
  if (!/^form-data\b/i.test(v)) {
    flags.invalidPart = true;
    return { error: 'Multipart: Invalid Content-Disposition header (not form-data)' };
  }
  let i = 'form-data'.length;
  const out: { name?: string; filename?: string } = {};
  while (i < v.length) {
    while (v[i] === ' ' || v[i] === '\t') i++;
    if (i >= v.length) break;
    if (v[i] !== ';') {
      flags.invalidPart = true;
      return { error: 'Multipart: Invalid Content-Disposition header (missing semicolon)' };
    }
    i++;
    while (v[i] === ' ' || v[i] === '\t') i++;
    const eq = v.indexOf('=', i);
    if (eq < 0) {
      flags.invalidPart = true;
      return { error: 'Multipart: Invalid Content-Disposition header (malformed parameter)' };
    }
    const pname = v.slice(i, eq).trim().toLowerCase();
    i = eq + 1;
    while (v[i] === ' ' || v[i] === '\t') i++;
    let pval = '';
    if (v[i] === '"') {
      i++;
      for (;;) {
        if (i >= v.length) {
          flags.invalidQuoting = true;
          return { error: 'Multipart: Invalid Content-Disposition header (quote)' };
        }
        if (v[i] === '\\' && (v[i + 1] === '"' || v[i + 1] === '\\')) {
          pval += v[i + 1];
          i += 2;
          continue;
        }
        if (v[i] === '"') {
          i++;
          break;
        }
        pval += v[i];
        i++;
      }
    } else {
      if (v[i] === "'") flags.invalidQuoting = true;
      const st = i;
      while (i < v.length && v[i] !== ';') i++;
      pval = v.slice(st, i).trim();
      if (pval.includes("'")) flags.invalidQuoting = true;
    }
    if (pname === 'name') {
      if (out.name !== undefined) return { error: 'Multipart: Duplicate Content-Disposition name' };
      out.name = pval;
    } else if (pname === 'filename' || pname === 'filename*') {
      if (out.filename !== undefined && pname === 'filename')
        return { error: 'Multipart: Duplicate Content-Disposition filename' };
      out.filename = pname === 'filename*' ? pval.replace(/^[^']*'[^']*'/, '') : pval;
    } else {
      flags.invalidPart = true;
      return { error: `Multipart: Invalid Content-Disposition header (unknown parameter ${pname})` };
    }
  }
  return out;
}
