import { request } from 'node:http';

/** Minimal HTTP client for integration tests (no redirects followed, body as text). */
export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function http(
  url: string,
  opts: { method?: string; form?: Record<string, string>; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const body = opts.form ? new URLSearchParams(opts.form).toString() : undefined;
    const req = request(
      url,
      {
        method: opts.method ?? (body ? 'POST' : 'GET'),
        headers: {
          ...(body
            ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)) }
            : {}),
          ...opts.headers,
        },
        timeout: opts.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Polls until `ok(response)` or the deadline; returns the response and the elapsed ms. */
export async function waitFor(
  url: string,
  ok: (r: HttpResponse) => boolean,
  timeoutMs: number,
  headers?: Record<string, string>,
): Promise<{ res: HttpResponse; ms: number }> {
  const t0 = Date.now();
  let last: unknown;
  while (Date.now() - t0 < timeoutMs) {
    try {
      const res = await http(url, { timeoutMs: 5000, headers });
      if (ok(res)) return { res, ms: Date.now() - t0 };
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms (last: ${String(last)})`);
}
