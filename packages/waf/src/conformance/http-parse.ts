/**
 * Raw HTTP/1.x request bytes → the engine's RequestInput, the way a strict-but-ordinary server
 * front end sees it (what the edge will hand the WAF). Returns a 400-style rejection for what
 * such a server refuses before any WAF runs: a malformed request line or header line, an
 * invalid Content-Length, a bad chunked body.
 */
import type { RequestInput } from '../engine/transaction.ts';

export type ParsedRequest = { ok: true; request: RequestInput } | { ok: false; status: number; reason: string };

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function parseHttpRequest(raw: Buffer, remoteAddr: string, uniqueId: string): ParsedRequest {
  const s = raw.toString('latin1');
  const headEnd = s.indexOf('\r\n\r\n');
  const lfEnd = s.indexOf('\n\n');
  let head: string;
  let rest: string;
  if (headEnd >= 0 && (lfEnd < 0 || headEnd < lfEnd)) {
    head = s.slice(0, headEnd);
    rest = s.slice(headEnd + 4);
  } else if (lfEnd >= 0) {
    head = s.slice(0, lfEnd);
    rest = s.slice(lfEnd + 2);
  } else return { ok: false, status: 400, reason: 'incomplete request head' };
  const lines = head.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const requestLine = lines.shift() ?? '';
  // HTTP/0.9 simple request: the answer has no status line, so the client sees an error
  if (/^[^ \t]+ [^ \t]+ ?$/.test(requestLine)) return { ok: false, status: 0, reason: 'HTTP/0.9 request' };
  const m = /^([^ \t]+) ([^ \t]+) (HTTP\/(\d+)(?:\.\d+)?)$/.exec(requestLine);
  if (!m || Number(m[4]) < 1) return { ok: false, status: 400, reason: `bad request line "${requestLine}"` };
  const method = m[1]!;
  if (!TOKEN.test(method)) return { ok: false, status: 400, reason: 'bad method' };
  const target = m[2]!;
  const path = target.split('?')[0]!;
  const connect = method === 'CONNECT' && /^[^/:]+:\d+$/.test(target);
  if (!(connect || /^[/?*]/.test(target) || /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(target)) || path.includes('\\'))
    return { ok: false, status: 400, reason: `bad request target "${target}"` };
  const headers: Array<[string, string]> = [];
  for (const l of lines) {
    if (l.startsWith(' ') || l.startsWith('\t')) return { ok: false, status: 400, reason: 'obsolete header folding' };
    const c = l.indexOf(':');
    if (c <= 0) return { ok: false, status: 400, reason: `bad header line "${l}"` };
    const name = l.slice(0, c);
    if (!TOKEN.test(name)) return { ok: false, status: 400, reason: `bad header name "${name}"` };
    const value = l.slice(c + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (value.includes('\r') || value.includes('\0')) return { ok: false, status: 400, reason: 'CR or NUL in a header value' };
    headers.push([name, value]);
  }
  const get = (n: string) => headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
  const te = get('transfer-encoding');
  const cl = get('content-length');
  let body = '';
  if (te.length > 0) {
    if (te.join(',').toLowerCase().trim() !== 'chunked')
      return { ok: false, status: 501, reason: 'unsupported transfer-encoding' };
    const dec = decodeChunked(rest);
    if (dec === undefined) return { ok: false, status: 400, reason: 'bad chunked body' };
    body = dec;
  } else if (cl.length > 0) {
    if (cl.some((v) => v !== cl[0]) || !/^\d+$/.test(cl[0]!)) return { ok: false, status: 400, reason: 'bad content-length' };
    const n = Number(cl[0]);
    // fewer bytes than announced: a server waits for the rest and the client times out
    if (rest.length < n) return { ok: false, status: 0, reason: 'timeout: body shorter than Content-Length' };
    body = rest.slice(0, n);
  }
  const host = get('host');
  if (m[3] === 'HTTP/1.1' && host.length === 0) return { ok: false, status: 400, reason: 'HTTP/1.1 request without Host' };
  if (host.length > 1 || host[0] === '') return { ok: false, status: 400, reason: 'empty or repeated Host' };
  return {
    ok: true,
    request: { method, uri: m[2]!, protocol: m[3]!, headers, body, remoteAddr, remotePort: 40000, uniqueId, requestLine },
  };
}

function decodeChunked(s: string): string | undefined {
  let out = '';
  let i = 0;
  for (;;) {
    const nl = s.indexOf('\r\n', i);
    if (nl < 0) return undefined;
    const size = Number.parseInt(s.slice(i, nl).split(';')[0]!.trim(), 16);
    if (!Number.isFinite(size) || size < 0) return undefined;
    i = nl + 2;
    if (size === 0) return out;
    out += s.slice(i, i + size);
    i += size + 2;
  }
}
