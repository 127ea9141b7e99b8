import { type Static, Type } from '@sinclair/typebox';
import { Id } from '../primitives.ts';

/**
 * File manager (an environment's wp-content volume) and read-only database browser.
 *
 *   GET    /environments/{id}/files?path=             → FileListing     (viewer)
 *   GET    /environments/{id}/files/content?path=     → the bytes, application/octet-stream (viewer);
 *                                                        `download=1` adds Content-Disposition: attachment
 *   PUT    /environments/{id}/files/content?path=     raw bytes (application/octet-stream) or
 *                                                      FileWriteRequest (JSON) → FileEntry (developer)
 *   DELETE /environments/{id}/files?path=&recursive=  → {removed}       (developer)
 *   POST   /environments/{id}/files/mkdir             {path} → FileEntry (developer)
 *   GET    /environments/{id}/db/tables               → DbTableList     (viewer)
 *   GET    /environments/{id}/db/tables/{table}/rows?offset=&limit= → DbRowsPage (viewer)
 *
 * Paths are relative to wp-content ('' = its root), '/'-separated; '..', '.', empty
 * components, a leading '/' and NUL are refused (400), symbolic links are listed but never
 * followed (422). Files up to 5 MiB are read or written here (413 beyond). The work runs on
 * the environment's app server as an agent job in the interactive lane; the API waits for it
 * (up to ~20 s, then 504 TRIPLANE_ERR_TIMEOUT with the job id in `details.jobId`).
 */
export const FILE_MAX_BYTES = 5 * 1024 * 1024;
export const DB_ROWS_MAX_LIMIT = 200;

export const FilePath = Type.String({
  maxLength: 4096,
  description: "relative to the site's wp-content, '' = its root (no '..', no leading '/')",
});

export const FileEntry = Type.Object(
  {
    name: Type.String(),
    type: Type.Union([Type.Literal('file'), Type.Literal('dir'), Type.Literal('symlink'), Type.Literal('other')]),
    size: Type.Integer(),
    mtime: Type.String({ description: 'ISO 8601' }),
    mode: Type.String({ description: "permission bits, octal, e.g. '0644'" }),
    target: Type.Optional(Type.String({ description: 'symlinks: where it points (never followed)' })),
  },
  { additionalProperties: false },
);
export type FileEntry = Static<typeof FileEntry>;

export const FileListing = Type.Object(
  {
    path: Type.String(),
    entries: Type.Array(FileEntry),
    truncated: Type.Boolean({ description: 'more than 5000 entries: the first 5000 by name' }),
  },
  { additionalProperties: false },
);
export type FileListing = Static<typeof FileListing>;

export const FilePathQuery = Type.Object({ path: Type.Optional(FilePath) }, { additionalProperties: false });
export const FileContentQuery = Type.Object(
  { path: FilePath, download: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);
export const FileWriteQuery = Type.Object(
  { path: FilePath, createOnly: Type.Optional(Type.Boolean({ description: 'fail with 409 if it exists' })) },
  { additionalProperties: false },
);
export const FileDeleteQuery = Type.Object(
  { path: FilePath, recursive: Type.Optional(Type.Boolean({ description: 'a non-empty directory with its contents' })) },
  { additionalProperties: false },
);

/** JSON body of PUT …/files/content: exactly one of `base64` (any bytes) or `text` (UTF-8). */
export const FileWriteRequest = Type.Object(
  {
    base64: Type.Optional(Type.String({ maxLength: Math.ceil(FILE_MAX_BYTES / 3) * 4 })),
    text: Type.Optional(Type.String({ maxLength: FILE_MAX_BYTES })),
  },
  { additionalProperties: false },
);
export type FileWriteRequest = Static<typeof FileWriteRequest>;

export const FileMkdirRequest = Type.Object({ path: FilePath }, { additionalProperties: false });
export type FileMkdirRequest = Static<typeof FileMkdirRequest>;

export const FileDeleteResponse = Type.Object({ removed: Type.Integer() }, { additionalProperties: false });
export type FileDeleteResponse = Static<typeof FileDeleteResponse>;

export const DbTable = Type.Object(
  {
    name: Type.String(),
    rowsEstimate: Type.Integer({ description: "information_schema's estimate (InnoDB: approximate)" }),
    bytes: Type.Integer({ description: 'data + indexes' }),
    engine: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: false },
);
export type DbTable = Static<typeof DbTable>;

export const DbTableList = Type.Object({ tables: Type.Array(DbTable) }, { additionalProperties: false });
export type DbTableList = Static<typeof DbTableList>;

export const DbTableParams = Type.Object(
  { id: Id, table: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);
export const DbRowsQuery = Type.Object(
  {
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: DB_ROWS_MAX_LIMIT })),
  },
  { additionalProperties: false },
);

export const DbRowsPage = Type.Object(
  {
    table: Type.String(),
    columns: Type.Array(Type.Object({ name: Type.String(), type: Type.String() }, { additionalProperties: false })),
    rows: Type.Array(Type.Array(Type.Union([Type.String(), Type.Number(), Type.Null()]))),
    offset: Type.Integer(),
    limit: Type.Integer(),
    truncated: Type.Array(Type.Array(Type.Integer()), { description: '[row, column] of values cut to 1024 characters' }),
    masked: Type.Array(Type.String(), { description: 'columns (or keys of key/value rows) whose values were masked' }),
  },
  { additionalProperties: false },
);
export type DbRowsPage = Static<typeof DbRowsPage>;
