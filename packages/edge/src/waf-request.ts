import type { IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import type { Logger } from '@triplane/kernel';
import { auditRecord, type Intervention, isRelevant, type RequestInput, type Transaction, type Waf } from '@triplane/waf';
import type { WafSettings } from './waf-config.ts';
import type { WafEvent } from './waf-events.ts';
import type { WafLogFiles } from './waf-log.ts';

/** A site's compiled WAF: the shared engine and the settings (mode, log files). */
export interface CompiledWaf {
  readonly engine: Waf;
  readonly settings: WafSettings;
}

/** What every WAF exchange of an edge shares. */
export interface WafRuntime {
  readonly logs: WafLogFiles;
  readonly logger: Logger;
  /** Relevant transactions (a rule logged or blocked), for the control plane (waf-events.ts). */
  onEvent?: ((e: WafEvent) => void) | undefined;
}

export interface WafStart {
  exchange: WafExchange;
  /** Set when the request is refused (block mode): answer it, never forward it. */
  verdict: Intervention | undefined;
  /**
   * The request body to forward when the WAF read it: the bytes themselves when it read all of
   * them (no stream per request to replay a buffer), else the inspected bytes then the rest;
   * undefined = none read.
   */
  body: Readable | Buffer | undefined;
  /** The WAF stopped reading a body larger than its limit: close the connection if the request is refused. */
  unread: boolean;
}

const MAX_EVENT_RULES = 20;
const MAX_URI = 2048;

/** Reads at most `max` bytes of a request body; `complete: false` leaves the rest unread (paused). */
function readPrefix(req: IncomingMessage, max: number): Promise<{ data: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      n += c.length;
      if (n > max) {
        req.pause();
        cleanup();
        resolve({ data: Buffer.concat(chunks), complete: false });
      }
    };
    const onEnd = () => {
      cleanup();
      resolve({ data: Buffer.concat(chunks), complete: true });
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onClose = () => {
      if (req.complete) return;
      cleanup();
      reject(new Error('client closed the connection during the request body'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * One request through a site's WAF, following the request path (proxy.ts):
 *
 *   start()            phase 1 (headers), then the body up to the engine's limit, phase 2 —
 *                      before the cache: a refused request never reaches the cache or the origin
 *   responseHeaders()  phase 3, on responses fetched from the origin (passes and misses)
 *   responseBody()     phase 4, with the body when the edge holds it (a response being stored)
 *   finish()           phase 5, then the log lines, the audit record and the event
 *
 * Cache hits are not re-inspected on the way out (they were inspected when fetched); their
 * requests still go through phases 1–2. In `detect` mode nothing is ever refused.
 */
export class WafExchange {
  readonly tx: Transaction;
  readonly #rt: WafRuntime;
  readonly #waf: CompiledWaf;
  readonly #site: string;
  readonly #environmentId: string | undefined;
  #finished = false;

  private constructor(rt: WafRuntime, waf: CompiledWaf, site: string, environmentId: string | undefined, tx: Transaction) {
    this.#rt = rt;
    this.#waf = waf;
    this.#site = site;
    this.#environmentId = environmentId;
    this.tx = tx;
  }

  static async start(
    rt: WafRuntime,
    waf: CompiledWaf,
    site: { name: string; environmentId: string | undefined },
    req: IncomingMessage,
    requestId: string,
    hasBody: boolean,
  ): Promise<WafStart> {
    const raw = req.rawHeaders;
    const headers: [string, string][] = [];
    let hostSeen = false;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      if (name.startsWith(':')) continue; // HTTP/2 pseudo-headers are not header fields
      if (name.length === 4 && name.toLowerCase() === 'host') hostSeen = true;
      headers.push([name, raw[i + 1]!]);
    }
    const authority = req.headers[':authority'];
    if (!hostSeen && typeof authority === 'string') headers.unshift(['Host', authority]);
    const method = req.method ?? 'GET';
    const uri = req.url ?? '/';
    const protocol = `HTTP/${req.httpVersion}`;
    const remote = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    // the body is filled in after phase 1 (the engine keeps this object)
    const input: RequestInput = {
      method,
      uri,
      protocol,
      headers,
      remoteAddr: remote,
      remotePort: req.socket.remotePort ?? 0,
      serverAddr: (req.socket.localAddress ?? '').replace(/^::ffff:/, ''),
      serverPort: req.socket.localPort ?? 0,
      uniqueId: requestId,
      requestLine: `${method} ${uri} ${protocol}`,
    };
    const ex: WafExchange = new WafExchange(
      rt,
      waf,
      site.name,
      site.environmentId,
      waf.engine.transaction(input, (line) => ex.#line(line)),
    );
    const tx = ex.tx;
    let verdict = ex.#enforce(tx.processRequestHeaders());
    if (verdict) return { exchange: ex, verdict, body: undefined, unread: hasBody };
    const s = waf.engine.rules.settings;
    let body: Readable | Buffer | undefined;
    let unread = false;
    if (hasBody && tx.requestBodyAccess) {
      const ct = String(req.headers['content-type'] ?? '');
      const limit = /^multipart\/form-data/i.test(ct) ? s.requestBodyLimit : s.requestBodyNoFilesLimit;
      // one byte past the limit tells the engine the body is larger (ProcessPartial / Reject)
      const r = await readPrefix(req, limit + 1);
      input.body = r.data.toString('latin1');
      if (r.complete) body = r.data;
      else {
        const rest = new PassThrough();
        rest.write(r.data);
        req.pipe(rest);
        req.resume();
        body = rest;
        unread = true;
      }
    }
    verdict = ex.#enforce(tx.processRequestBody());
    return { exchange: ex, verdict, body, unread };
  }

  /** Phase 3 on an origin response's status and headers (raw name/value pairs). */
  responseHeaders(status: number, rawHeaders: readonly string[], httpVersion = '1.1'): Intervention | undefined {
    const headers: [string, string][] = [];
    for (let i = 0; i < rawHeaders.length; i += 2) headers.push([rawHeaders[i]!, rawHeaders[i + 1]!]);
    return this.#enforce(this.tx.processResponseHeaders({ status, protocol: `HTTP/${httpVersion}`, headers }));
  }

  /** Phase 4; `body` when the edge holds the whole response (the engine inspects it only with SecResponseBodyAccess On). */
  responseBody(body?: Buffer): Intervention | undefined {
    if (body && this.tx.res) this.tx.res.body = body.toString('latin1');
    return this.#enforce(this.tx.processResponseBody());
  }

  /** Phase 5 and the records; once, when the response is finished (or the client is gone). */
  finish(status: number): void {
    if (this.#finished) return;
    this.#finished = true;
    const tx = this.tx;
    try {
      tx.processLogging();
    } catch (e) {
      this.#rt.logger.error({ err: e, requestId: tx.req.uniqueId }, 'waf logging phase fault');
    }
    if (!isRelevant(tx)) return;
    const s = this.#waf.settings;
    if (s.auditLog) this.#rt.logs.write(s.auditLog, JSON.stringify(auditRecord(tx)));
    if (!this.#rt.onEvent) return;
    const rules: WafEvent['rules'] = [];
    const seen = new Set<number>();
    for (const e of tx.events) {
      if (!(e.log || e.enforced) || seen.has(e.ruleId)) continue;
      seen.add(e.ruleId);
      if (rules.length < MAX_EVENT_RULES) rules.push({ id: e.ruleId, msg: text(e.msg).slice(0, 256) });
    }
    const blocked = this.#waf.settings.mode === 'block' && tx.intervention !== undefined;
    const num = (k: string) => Number(tx.collectionGet('tx', k)?.value ?? 0) || 0;
    this.#rt.onEvent({
      time: new Date().toISOString(),
      site: this.#site,
      environmentId: this.#environmentId,
      requestId: tx.req.uniqueId,
      clientIp: tx.req.remoteAddr,
      method: text(tx.req.method).slice(0, 32),
      host: text(tx.hostHeader()).slice(0, 253),
      uri: text(tx.req.uri).slice(0, MAX_URI),
      status,
      action: blocked ? 'blocked' : 'detected',
      anomalyScore: num('inbound_anomaly_score') || num('anomaly_score'),
      outboundAnomalyScore: num('outbound_anomaly_score'),
      rules,
    });
  }

  #enforce(iv: Intervention | undefined): Intervention | undefined {
    // detect: a `rules` file may still say SecRuleEngine On; the edge never refuses in detect mode
    return iv && this.#waf.settings.mode === 'block' ? iv : undefined;
  }

  #line(line: string): void {
    const file = this.#waf.settings.log;
    if (file)
      this.#rt.logs.write(file, `[${new Date().toISOString()}] [${this.#site}] [client ${this.tx.req.remoteAddr}] ${line}`);
  }
}

/** latin1 bytes → UTF-8 text (invalid sequences → U+FFFD). */
function text(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}
