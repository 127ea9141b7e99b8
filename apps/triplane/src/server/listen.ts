import { usageError } from '../cli/exit.ts';

export interface ListenAddress {
  host: string;
  port: number;
}

/** `HOST:PORT`, `[::1]:PORT` or `:PORT` (all interfaces). */
export function parseListen(s: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(s.trim());
  if (!m) throw usageError(`--listen must be HOST:PORT, e.g. 127.0.0.1:8800 (got ${s})`);
  const port = Number(m[3]);
  if (port > 65535) throw usageError(`port out of range: ${port}`);
  const host = m[1] ?? (m[2] || '0.0.0.0');
  return { host, port };
}

/** The URL clients use for a listen address (a wildcard address becomes loopback). */
export function urlFor(a: ListenAddress): string {
  let host = a.host;
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  return `http://${host.includes(':') ? `[${host}]` : host}:${a.port}`;
}
