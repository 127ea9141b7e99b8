/**
 * JSON audit record for a finished transaction, shaped like libmodsecurity's JSON audit log
 * (transaction → request/response/producer/messages) so existing tooling reads it. Request
 * bodies are not included (they may hold credentials); header values are as received.
 * Strings are converted from latin1 bytes to UTF-8 text (invalid sequences → U+FFFD).
 */
import { SEVERITIES } from './model.ts';
import type { Transaction } from './transaction.ts';

export interface AuditMessage {
  message: string;
  details: {
    match: string;
    ruleId: string;
    file: string;
    lineNumber: string;
    data: string;
    severity: string;
    ver: string;
    tags: string[];
  };
}

export interface AuditRecord {
  transaction: {
    client_ip: string;
    time_stamp: string;
    client_port: number;
    unique_id: string;
    request: { method: string; http_version: string; uri: string; headers: Record<string, string> };
    response: { http_code: number | undefined; headers: Record<string, string> };
    producer: { modsecurity: string; secrules_engine: string; components: string[] };
    messages: AuditMessage[];
    intervention?: { status: number; ruleId: number; action: string };
  };
}

const text = (s: string) => Buffer.from(s, 'latin1').toString('utf8');

function headers(list: ReadonlyArray<{ name: string; value: string }>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of list)
    out[text(h.name)] = out[text(h.name)] === undefined ? text(h.value) : `${out[text(h.name)]}, ${text(h.value)}`;
  return out;
}

/** True when SecAuditEngine RelevantOnly would record the transaction. */
export function isRelevant(tx: Transaction): boolean {
  return tx.intervention !== undefined || tx.events.some((e) => e.log);
}

export function auditRecord(tx: Transaction, now = new Date()): AuditRecord {
  const rec: AuditRecord = {
    transaction: {
      client_ip: tx.req.remoteAddr,
      time_stamp: now.toUTCString(),
      client_port: tx.req.remotePort ?? 0,
      unique_id: tx.req.uniqueId,
      request: {
        method: text(tx.req.method),
        http_version: tx.req.protocol.replace(/^HTTP\//, ''),
        uri: text(tx.req.uri),
        headers: headers(tx.requestHeaders),
      },
      response: { http_code: tx.intervention?.status ?? tx.res?.status, headers: headers(tx.responseHeaders) },
      producer: {
        modsecurity: 'triplane-waf',
        secrules_engine: tx.ruleEngine,
        components: tx.rules.settings.componentSignatures,
      },
      messages: tx.events
        .filter((e) => e.log || e.enforced)
        .map((e) => ({
          message: text(e.msg),
          details: {
            match: text(e.match),
            ruleId: String(e.ruleId),
            file: e.file,
            lineNumber: String(e.line),
            data: text(e.data),
            severity: e.severity === undefined ? '' : (SEVERITIES[e.severity] ?? String(e.severity)),
            ver: e.ver ?? '',
            tags: e.tags.map(text),
          },
        })),
    },
  };
  if (tx.intervention)
    rec.transaction.intervention = {
      status: tx.intervention.status,
      ruleId: tx.intervention.ruleId,
      action: tx.intervention.action,
    };
  return rec;
}
