import { errorFromBody, TriplaneApiError, UNREACHABLE_CODE } from './errors.ts';

/** `credentials` of fetch (the DOM's RequestCredentials, spelled out so Node-only builds typecheck). */
export type Credentials = 'omit' | 'same-origin' | 'include';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /** Where the API answers, e.g. `http://127.0.0.1:8800` (the `/api/v1` prefix is added). */
  baseUrl: string;
  /** An API token (`tpl_…`); omit for a browser session (cookies) or anonymous calls. */
  token?: string | undefined;
  /** A fetch implementation; the global one by default. */
  fetch?: FetchLike | undefined;
  /** Extra headers on every request (e.g. `x-csrf-token` for a browser session). */
  headers?: Record<string, string> | undefined;
  /** Per-request timeout, ms (not applied to event streams). Default 30 s. */
  timeoutMs?: number | undefined;
  /** Browser: send cookies (`credentials: 'include'`). */
  credentials?: Credentials | undefined;
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestOptions {
  query?: Query | undefined;
  body?: unknown;
  signal?: AbortSignal | undefined;
  headers?: Record<string, string> | undefined;
}

/** Joins the base URL, the `/api/v1` prefix, a path and a query string. */
export function buildUrl(baseUrl: string, path: string, query?: Query): string {
  const base = baseUrl.replace(/\/+$/, '');
  const prefix = path.startsWith('/api/') || path === '/healthz' || path === '/readyz' ? '' : '/api/v1';
  let url = `${base}${prefix}${path}`;
  if (query) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') qs.append(k, String(v));
    const s = qs.toString();
    if (s) url += `?${s}`;
  }
  return url;
}

/** Encode one path segment (ids and names never contain '/', but never trust that). */
export function seg(v: string): string {
  return encodeURIComponent(v);
}

/**
 * The HTTP core of the client: JSON in, JSON out, `TriplaneApiError` on a non-2xx answer or
 * a network failure. No Node-only APIs, so the dashboard uses the same code in a browser.
 */
export class Transport {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #fetch: FetchLike;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #credentials: Credentials | undefined;

  constructor(o: ClientOptions) {
    if (!o.baseUrl) throw new TypeError('baseUrl is required');
    this.baseUrl = o.baseUrl.replace(/\/+$/, '');
    this.#token = o.token;
    this.#fetch = o.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#headers = { ...(o.headers ?? {}) };
    this.#timeoutMs = o.timeoutMs ?? 30_000;
    this.#credentials = o.credentials;
  }

  headers(extra?: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json', ...this.#headers, ...(extra ?? {}) };
    if (this.#token) h.authorization = `Bearer ${this.#token}`;
    return h;
  }

  /** A raw fetch with auth headers; network failures become TriplaneApiError(status 0). */
  async raw(method: string, path: string, o: RequestOptions & { timeout?: boolean } = {}): Promise<Response> {
    const url = buildUrl(this.baseUrl, path, o.query);
    const headers = this.headers(o.headers);
    let body: string | undefined;
    if (o.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.body);
    }
    const signals: AbortSignal[] = [];
    if (o.signal) signals.push(o.signal);
    if (o.timeout !== false && this.#timeoutMs > 0) signals.push(AbortSignal.timeout(this.#timeoutMs));
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = body;
    if (signals.length) init.signal = signals.length === 1 ? signals[0] : AbortSignal.any(signals);
    if (this.#credentials) init.credentials = this.#credentials;
    try {
      return await this.#fetch(url, init);
    } catch (e) {
      // The caller aborted (a closed watch, a timeout of waitForJob): its reason, not a network error.
      if (o.signal?.aborted) throw o.signal.reason ?? e;
      const name = (e as { name?: string })?.name;
      const reason = name === 'TimeoutError' ? 'timed out' : describeNetworkError(e);
      throw new TriplaneApiError(
        0,
        UNREACHABLE_CODE,
        `cannot reach the API at ${this.baseUrl}: ${reason}`,
        { url },
        { cause: e },
      );
    }
  }

  /** JSON request; returns the parsed body (undefined for 204). */
  async request<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const res = await this.raw(method, path, o);
    const text = await res.text().catch(() => '');
    let parsed: unknown;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (!res.ok) throw errorFromBody(res.status, parsed, text.slice(0, 200));
    if (res.status === 204 || !text) return undefined as T;
    if (parsed === undefined) {
      throw new TriplaneApiError(res.status, 'TRIPLANE_ERR_BAD_RESPONSE', 'the API answered with something that is not JSON');
    }
    return parsed as T;
  }
}

function describeNetworkError(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code) return cause.code;
  if (cause?.message) return cause.message;
  return (e as Error)?.message ?? String(e);
}
