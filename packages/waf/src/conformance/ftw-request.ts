/**
 * Request bytes for one ftw 1.3.0 test stage, exactly as the reference runner
 * (../shared/tools/crs-ftw/ftw-runner.js, ftw/ruleset.py + ftw/http.py) builds them:
 * `METHOD URI VERSION\r\n` + headers in YAML order + `\r\n` + data; list data joined with CRLF;
 * form-urlencoded magic (Content-Type added, Python urlencode(parse_qsl()) re-encoding when the
 * data holds no %XX escape, Content-Length = len(str)); raw_request via Python
 * 'unicode_escape'; encoded_request is base64.
 */

export interface FtwInput {
  method?: unknown;
  uri?: unknown;
  version?: unknown;
  headers?: Record<string, unknown>;
  data?: unknown;
  stop_magic?: unknown;
  raw_request?: unknown;
  encoded_request?: unknown;
}

const UNRESERVED = /[A-Za-z0-9_.~-]/;

function quotePlus(str: string): string {
  let out = '';
  for (const b of Buffer.from(str, 'utf8')) {
    const c = String.fromCharCode(b);
    if (b < 128 && UNRESERVED.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function unquote(s: string): string {
  if (!s.includes('%')) return s;
  return s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (m) => Buffer.from(m.replace(/%/g, ''), 'hex').toString('utf8'));
}

function parseQsl(qs: string): Array<[string, string]> {
  const r: Array<[string, string]> = [];
  if (!qs) return r;
  for (const nv of qs.split('&')) {
    if (!nv) continue;
    const idx = nv.indexOf('=');
    if (idx < 0) continue;
    const n = nv.slice(0, idx);
    const v = nv.slice(idx + 1);
    if (v.length === 0) continue;
    r.push([unquote(n.replace(/\+/g, ' ')), unquote(v.replace(/\+/g, ' '))]);
  }
  return r;
}

/** str() of a YAML scalar as PyYAML would give it */
export function pyStr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  return String(v);
}

function unicodeEscapeDecode(s: string): string {
  const bytes = Buffer.from(s, 'utf8');
  let out = '';
  const simple: Record<string, string> = {
    '\n': '',
    '\\': '\\',
    "'": "'",
    '"': '"',
    a: '\x07',
    b: '\b',
    f: '\f',
    n: '\n',
    r: '\r',
    t: '\t',
    v: '\v',
  };
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b !== 0x5c || i + 1 >= bytes.length) {
      out += String.fromCharCode(b);
      continue;
    }
    const c = String.fromCharCode(bytes[++i]!);
    if (c in simple) {
      out += simple[c];
      continue;
    }
    if (/[0-7]/.test(c)) {
      let oct = c;
      while (oct.length < 3 && i + 1 < bytes.length && /[0-7]/.test(String.fromCharCode(bytes[i + 1]!)))
        oct += String.fromCharCode(bytes[++i]!);
      out += String.fromCharCode(Number.parseInt(oct, 8));
      continue;
    }
    const hexLen = c === 'x' ? 2 : c === 'u' ? 4 : c === 'U' ? 8 : 0;
    if (hexLen) {
      const h = bytes.subarray(i + 1, i + 1 + hexLen).toString('latin1');
      if (h.length === hexLen && /^[0-9a-fA-F]+$/.test(h)) {
        out += String.fromCodePoint(Number.parseInt(h, 16));
        i += hexLen;
        continue;
      }
      throw new Error(`unicode_escape: truncated \\${c} escape`);
    }
    out += '\\' + c;
  }
  return out;
}

export function buildFtwRequest(input: FtwInput): Buffer {
  if (input.encoded_request != null && input.raw_request != null) throw new Error('Cannot specify both raw and encoded modes');
  if (input.encoded_request != null) return Buffer.from(String(input.encoded_request), 'base64');
  if (input.raw_request != null) return Buffer.from(unicodeEscapeDecode(String(input.raw_request)), 'utf8');
  const method = 'method' in input ? input.method : 'GET';
  const uri = 'uri' in input ? input.uri : '/';
  const version = 'version' in input ? input.version : 'HTTP/1.1';
  const stopMagic = !!input.stop_magic;
  const headers: Record<string, unknown> = { ...(input.headers ?? {}) };
  let data: unknown = 'data' in input && input.data != null ? input.data : '';
  if (Array.isArray(data)) data = data.map(pyStr).join('\r\n');
  let body = pyStr(data);
  if (body !== '') {
    if (!('Content-Type' in headers) && !stopMagic) headers['Content-Type'] = 'application/x-www-form-urlencoded';
    if (headers['Content-Type'] === 'application/x-www-form-urlencoded' && !stopMagic && unquote(body) === body) {
      const qs = parseQsl(body);
      if (qs.length !== 0) body = qs.map(([k, v]) => quotePlus(k) + '=' + quotePlus(v)).join('&');
    }
    if (!('Content-Length' in headers) && !stopMagic) headers['Content-Length'] = Array.from(body).length;
  }
  let h = '';
  for (const [k, v] of Object.entries(headers)) h += pyStr(k) + ': ' + pyStr(v) + '\r\n';
  // the reference builds a template and replaces placeholders; plain concatenation is the same
  // unless a value itself contains a placeholder, which no CRS test does
  const req = `${pyStr(method)} ${pyStr(uri)} ${pyStr(version)}\r\n${h}\r\n${body}`;
  return Buffer.from(req, 'utf8');
}
