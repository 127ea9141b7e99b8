import { type ErrorCode, isTriplaneError, TriplaneError } from '@triplane/kernel';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';

/** The one place where error codes become HTTP statuses (house rule 5). */
export const STATUS_BY_CODE: Record<string, number> = {
  TRIPLANE_ERR_BAD_REQUEST: 400,
  TRIPLANE_ERR_MALFORMED_JSON: 400,
  TRIPLANE_ERR_VALIDATION: 400,
  TRIPLANE_ERR_UNAUTHENTICATED: 401,
  TRIPLANE_ERR_FORBIDDEN: 403,
  TRIPLANE_ERR_CSRF: 403,
  TRIPLANE_ERR_NOT_FOUND: 404,
  TRIPLANE_ERR_METHOD_NOT_ALLOWED: 405,
  TRIPLANE_ERR_CONFLICT: 409,
  TRIPLANE_ERR_ALREADY_EXISTS: 409,
  TRIPLANE_ERR_PRECONDITION_FAILED: 412,
  TRIPLANE_ERR_PAYLOAD_TOO_LARGE: 413,
  TRIPLANE_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  TRIPLANE_ERR_UNPROCESSABLE: 422,
  TRIPLANE_ERR_RATE_LIMITED: 429,
  TRIPLANE_ERR_UNAVAILABLE: 503,
  TRIPLANE_ERR_TIMEOUT: 504,
  // backups (issue 6)
  TRIPLANE_ERR_BACKUP_WRONG_SITE: 422,
  TRIPLANE_ERR_BACKUP_WRONG_ENVIRONMENT: 422,
  TRIPLANE_ERR_BACKUP_PRUNED: 409,
  TRIPLANE_ERR_BACKUP_NOT_PLACED: 409,
  TRIPLANE_ERR_BACKUP_UNREACHABLE: 409,
  TRIPLANE_ERR_ARTIFACT_NOT_READY: 409,
  TRIPLANE_ERR_ARTIFACT_EXPIRED: 410,
};

export function statusFor(code: string): number {
  return STATUS_BY_CODE[code] ?? 500;
}

export function sendError(reply: FastifyReply, err: TriplaneError): FastifyReply {
  const status = statusFor(err.code);
  if (err.code === 'TRIPLANE_ERR_RATE_LIMITED') {
    const retry = (err.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds;
    if (retry) reply.header('retry-after', String(retry));
  }
  return reply.code(status).type('application/json; charset=utf-8').send({ error: err.toJSON() });
}

/** Translate Fastify's own errors (parser, validation, limits) into stable codes. */
export function fromFastifyError(e: FastifyError): TriplaneError {
  if (e.validation) {
    const first = e.validation[0];
    const where = e.validationContext ?? 'body';
    const path = first?.instancePath ? `${where}${first.instancePath.replaceAll('/', '.')}` : where;
    let message = `${path} ${first?.message ?? 'is invalid'}`;
    if (first?.keyword === 'additionalProperties') {
      message = `${path} has an unknown field '${String((first.params as { additionalProperty?: string }).additionalProperty)}'`;
    }
    return new TriplaneError('TRIPLANE_ERR_VALIDATION', message, {
      location: where,
      errors: e.validation.slice(0, 10).map((v) => ({ path: v.instancePath, message: v.message, keyword: v.keyword })),
    });
  }
  const byFastifyCode: Record<string, [ErrorCode, string]> = {
    FST_ERR_CTP_INVALID_MEDIA_TYPE: ['TRIPLANE_ERR_UNSUPPORTED_MEDIA_TYPE', 'unsupported content type; send application/json'],
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['TRIPLANE_ERR_BAD_REQUEST', 'content-length does not match the body'],
    FST_ERR_CTP_BODY_TOO_LARGE: ['TRIPLANE_ERR_PAYLOAD_TOO_LARGE', 'request body too large'],
    FST_ERR_CTP_EMPTY_JSON_BODY: ['TRIPLANE_ERR_MALFORMED_JSON', 'empty JSON body'],
    FST_ERR_CTP_INVALID_JSON_BODY: ['TRIPLANE_ERR_MALFORMED_JSON', 'malformed JSON body'],
    FST_ERR_CTP_INVALID_TYPE: ['TRIPLANE_ERR_BAD_REQUEST', 'invalid content type header'],
    FST_ERR_BAD_URL: ['TRIPLANE_ERR_BAD_REQUEST', 'malformed URL'],
    FST_ERR_ASYNC_CONSTRAINT: ['TRIPLANE_ERR_BAD_REQUEST', 'bad request'],
  };
  const mapped = e.code ? byFastifyCode[e.code] : undefined;
  if (mapped) return new TriplaneError(mapped[0], mapped[1]);
  if (e instanceof SyntaxError || e.statusCode === 400) {
    // JSON.parse errors and secure-json-parse prototype-poisoning rejections.
    return new TriplaneError('TRIPLANE_ERR_MALFORMED_JSON', 'malformed JSON body');
  }
  if (e.statusCode === 413) return new TriplaneError('TRIPLANE_ERR_PAYLOAD_TOO_LARGE', 'request body too large');
  if (e.statusCode === 415) return new TriplaneError('TRIPLANE_ERR_UNSUPPORTED_MEDIA_TYPE', 'unsupported content type');
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    return new TriplaneError('TRIPLANE_ERR_BAD_REQUEST', 'bad request');
  }
  return new TriplaneError('TRIPLANE_ERR_INTERNAL', 'internal error');
}

/** Database unique-constraint violations → 409 with a stable code, on both dialects. */
export function fromStoreError(e: unknown): TriplaneError | undefined {
  const err = e as { code?: string; message?: string };
  if (err?.code === 'SQLITE_CONSTRAINT_UNIQUE' || err?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || err?.code === '23505') {
    return new TriplaneError('TRIPLANE_ERR_ALREADY_EXISTS', 'a resource with the same unique name already exists');
  }
  if (
    err?.code === 'SQLITE_CONSTRAINT_FOREIGNKEY' ||
    err?.code === '23503' ||
    (err?.code === 'SQLITE_CONSTRAINT_TRIGGER' && /FOREIGN KEY/.test(err.message ?? ''))
  ) {
    return new TriplaneError(
      'TRIPLANE_ERR_CONFLICT',
      'the resource is referenced by, or refers to, another that blocks this change',
    );
  }
  if (err?.code === 'SQLITE_BUSY' || err?.code === '40001' || err?.code === '40P01') {
    return new TriplaneError('TRIPLANE_ERR_UNAVAILABLE', 'the store is busy; retry', { retryable: true });
  }
  if (err?.code === '22021' || err?.code === '22P05') {
    // PostgreSQL text cannot hold NUL (U+0000): bad input, not a 500.
    return new TriplaneError('TRIPLANE_ERR_VALIDATION', 'text must not contain NUL (U+0000) characters');
  }
  return undefined;
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    let te: TriplaneError;
    if (isTriplaneError(error)) te = error;
    else {
      te = fromStoreError(error) ?? fromFastifyError(error);
    }
    if (statusFor(te.code) >= 500) {
      request.log.error({ err: error, code: te.code }, 'request failed');
    }
    return sendError(reply, te);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new TriplaneError('TRIPLANE_ERR_NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0]}`)),
  );
}

/** Inline response schema of the error shape for OpenAPI, reused by every route. */
export const errorSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
      required: ['code', 'message'],
    },
  },
  required: ['error'],
} as const;

/** `...errorResponses(400, 401, 404)` in a route's `response` schema. */
export function errorResponses(...statuses: number[]): Record<number, typeof errorSchema> {
  const out: Record<number, typeof errorSchema> = {};
  for (const s of statuses) out[s] = errorSchema;
  return out;
}
