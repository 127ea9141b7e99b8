import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { TriplaneError } from '@triplane/kernel';
import {
  DbRowsPage,
  DbRowsQuery,
  DbTableList,
  DbTableParams,
  FILE_MAX_BYTES,
  FileContentQuery,
  FileDeleteQuery,
  FileDeleteResponse,
  FileEntry,
  FileListing,
  FileMkdirRequest,
  FilePathQuery,
  FileWriteQuery,
  FileWriteRequest,
  Id,
} from '@triplane/spec';
import type { FastifyInstance } from 'fastify';
import { errorResponses } from '../../errors.ts';
import { requireEnvironmentRole } from '../sites/access.ts';
import { callAgent } from './agent-call.ts';

const TAGS = ['files'];
const EnvParams = Type.Object({ id: Id }, { additionalProperties: false });
/** base64 of FILE_MAX_BYTES in a JSON body, with room for the envelope. */
const WRITE_BODY_LIMIT = Math.ceil(FILE_MAX_BYTES / 3) * 4 + 64 * 1024;

export interface FilesRoutesOptions {
  /** How long a call waits for the agent, ms (default 20 s). */
  waitMs?: number;
}

/** `path` components must be plain names: the agent refuses the rest too, but say it early. */
function cleanPath(path: string | undefined): string {
  const p = path ?? '';
  if (p.includes('\0')) throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'the path contains a NUL byte', { path: p });
  return p;
}

/**
 * File manager and database browser of an environment (spec/api/files.ts). Each call is an
 * agent job in the interactive lane, answered synchronously (agent-call.ts). Viewers list,
 * view and download files and browse tables; developers write, create and delete files.
 */
export default async function filesRoutes(base: FastifyInstance, opts: FilesRoutesOptions = {}): Promise<void> {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { store, clock } = app.ctx;
  // TRIPLANE_AGENT_CALL_WAIT_MS: an operator's (or a test's) override of the wait.
  const envWait = Number(process.env.TRIPLANE_AGENT_CALL_WAIT_MS);
  const call = { store, clock, waitMs: opts.waitMs ?? (envWait > 0 ? envWait : 20_000) };
  // Raw uploads (this plugin's routes only: Fastify scopes parsers to the plugin).
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: FILE_MAX_BYTES }, (_req, body, done) =>
    done(null, body),
  );

  app.get(
    '/environments/:id/files',
    {
      schema: {
        tags: TAGS,
        summary: "List a directory of the environment's files (wp-content); symlinks are shown, never followed",
        params: EnvParams,
        querystring: FilePathQuery,
        response: { 200: FileListing, ...errorResponses(400, 401, 403, 404, 409, 422, 503, 504) },
      },
    },
    async (req, reply) => {
      const { env, site } = await requireEnvironmentRole(req, req.params.id, 'viewer');
      return (await callAgent(call, req, reply, {
        env,
        site,
        kind: 'files.list',
        ephemeral: true,
        params: { path: cleanPath(req.query.path) },
      })) as FileListing;
    },
  );

  app.get(
    '/environments/:id/files/content',
    {
      schema: {
        tags: TAGS,
        summary: `A file's bytes (application/octet-stream, up to ${FILE_MAX_BYTES} bytes; larger: 413)`,
        params: EnvParams,
        querystring: FileContentQuery,
        produces: ['application/octet-stream'],
        // (a Buffer is sent as is: Fastify never runs the serializer on one)
        response: {
          200: { description: "the file's bytes", type: 'string' },
          ...errorResponses(400, 401, 403, 404, 409, 413, 422, 503, 504),
        },
      },
    },
    async (req, reply) => {
      const { env, site } = await requireEnvironmentRole(req, req.params.id, 'viewer');
      const path = cleanPath(req.query.path);
      const r = (await callAgent(call, req, reply, {
        env,
        site,
        kind: 'files.read',
        ephemeral: true,
        params: { path },
      })) as { size: number; mtime: string; mode: string; base64: string };
      const bytes = Buffer.from(r.base64, 'base64');
      const name = path.split('/').pop() || 'file';
      // Site files are untrusted content on the dashboard's origin: never rendered, never sniffed.
      return reply
        .header('content-type', 'application/octet-stream')
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "sandbox; default-src 'none'")
        .header(
          'content-disposition',
          `attachment; filename="${name.replace(/[^\x20-\x7e]|["\\]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(name)}`,
        )
        .header('last-modified', new Date(r.mtime).toUTCString())
        .header('x-triplane-file-mode', r.mode)
        .send(bytes as never);
    },
  );

  app.put(
    '/environments/:id/files/content',
    {
      bodyLimit: WRITE_BODY_LIMIT,
      schema: {
        tags: TAGS,
        summary:
          'Create or replace a file atomically (body: the raw bytes as application/octet-stream, or JSON {base64} / {text}); owned by the site, up to 5 MiB',
        params: EnvParams,
        querystring: FileWriteQuery,
        response: { 200: FileEntry, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 503, 504) },
      },
    },
    async (req, reply) => {
      const { env, site } = await requireEnvironmentRole(req, req.params.id, 'developer');
      const path = cleanPath(req.query.path);
      let bytes: Buffer;
      if (Buffer.isBuffer(req.body)) bytes = req.body;
      else {
        const b = req.body as unknown;
        if (!Value.Check(FileWriteRequest, b) || (b.base64 === undefined) === (b.text === undefined)) {
          throw new TriplaneError(
            'TRIPLANE_ERR_VALIDATION',
            'send the bytes as application/octet-stream, or JSON with exactly one of base64 or text',
          );
        }
        if (b.base64 !== undefined) {
          if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b.base64) || b.base64.length % 4 !== 0)
            throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'base64 is not valid base64');
          bytes = Buffer.from(b.base64, 'base64');
        } else bytes = Buffer.from(b.text ?? '', 'utf8');
      }
      if (bytes.length > FILE_MAX_BYTES) {
        throw new TriplaneError('TRIPLANE_ERR_PAYLOAD_TOO_LARGE', `files up to ${FILE_MAX_BYTES} bytes can be written here`, {
          size: bytes.length,
          limit: FILE_MAX_BYTES,
        });
      }
      const createOnly = req.query.createOnly === true;
      return (await callAgent(call, req, reply, {
        env,
        site,
        kind: 'files.write',
        params: { path, base64: bytes.toString('base64'), createOnly },
        keepParams: { path, bytes: bytes.length, createOnly, environmentId: env.id },
        audit: { action: 'files.write', details: { path, bytes: bytes.length } },
      })) as FileEntry;
    },
  );

  app.delete(
    '/environments/:id/files',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete a file, a symlink (not its target) or a directory (non-empty: recursive=true)',
        params: EnvParams,
        querystring: FileDeleteQuery,
        response: { 200: FileDeleteResponse, ...errorResponses(400, 401, 403, 404, 409, 413, 422, 503, 504) },
      },
    },
    async (req, reply) => {
      const { env, site } = await requireEnvironmentRole(req, req.params.id, 'developer');
      const path = cleanPath(req.query.path);
      if (path === '') throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'the root of the site files cannot be deleted');
      const recursive = req.query.recursive === true;
      return (await callAgent(call, req, reply, {
        env,
        site,
        kind: 'files.delete',
        params: { path, recursive },
        audit: { action: 'files.delete', details: { path, recursive } },
      })) as { removed: number };
    },
  );

  app.post(
    '/environments/:id/files/mkdir',
    {
      schema: {
        tags: TAGS,
        summary: 'Create a directory (its parent must exist)',
        params: EnvParams,
        body: FileMkdirRequest,
        response: { 200: FileEntry, ...errorResponses(400, 401, 403, 404, 409, 422, 503, 504) },
      },
    },
    async (req, reply) => {
      const { env, site } = await requireEnvironmentRole(req, req.params.id, 'developer');
      const path = cleanPath(req.body.path);
      return (await callAgent(call, req, reply, {
        env,
        site,
        kind: 'files.mkdir',
        params: { path },
        audit: { action: 'files.mkdir', details: { path } },
      })) as FileEntry;
    },
  );

  app.get(
    '/environments/:id/db/tables',
    {
      schema: {
        tags: TAGS,
        summary: "The environment database's tables with row estimates and sizes (read-only)",
        params: EnvParams,
        response: { 200: DbTableList, ...errorResponses(400, 401, 403, 404, 409, 422, 503, 504) },
      },
    },
    async (req, reply) => {
      const { env, site } = await requireEnvironmentRole(req, req.params.id, 'viewer');
      return (await callAgent(call, req, reply, { env, site, kind: 'db.tables', params: {}, ephemeral: true })) as DbTableList;
    },
  );

  app.get(
    '/environments/:id/db/tables/:table/rows',
    {
      schema: {
        tags: TAGS,
        summary: 'A page of a table’s rows (read-only session; values cut to 1 KB; secrets masked; limit ≤ 200)',
        params: DbTableParams,
        querystring: DbRowsQuery,
        response: { 200: DbRowsPage, ...errorResponses(400, 401, 403, 404, 409, 422, 503, 504) },
      },
    },
    async (req, reply) => {
      const { env, site } = await requireEnvironmentRole(req, req.params.id, 'viewer');
      return (await callAgent(call, req, reply, {
        env,
        site,
        kind: 'db.rows',
        ephemeral: true,
        params: { table: req.params.table, offset: req.query.offset ?? 0, limit: req.query.limit ?? 50 },
      })) as DbRowsPage;
    },
  );
}
