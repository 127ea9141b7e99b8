import { constants } from 'node:fs';
import { type FileHandle, lstat, open } from 'node:fs/promises';
import { TriplaneError } from '@triplane/kernel';

/**
 * Paths inside an environment's volume that can't lead out of it, by construction.
 *
 * A path is relative to the volume root ('' = the root itself), '/'-separated. Every
 * component is checked on its own: '', '.', '..', anything with NUL, and more than 255 bytes
 * are refused, so is a leading '/' (absolute) or more than 64 levels. The string is never
 * URL-decoded here (the HTTP layer decoded it exactly once): `%2e%2e` is a file name.
 *
 * Node has no openat(2), so the walk uses Linux's equivalent: every directory is OPENED
 * (O_DIRECTORY | O_NOFOLLOW) and the next component is looked up through
 * `/proc/self/fd/<dirfd>/<name>` — the kernel resolves that from the open directory itself,
 * not by re-reading a path string. A symlink anywhere (ELOOP from O_NOFOLLOW) is refused, not
 * followed; a directory swapped for a symlink after we looked (a site's PHP racing us) can't
 * redirect the walk, because we hold the directory, not its name. This matters: the agent runs
 * as host root and a site's symlink `uploads -> /etc` would point at the HOST's /etc.
 *
 * The final operation is done by the caller on `at(name)` with calls that never follow the last
 * component (O_NOFOLLOW opens, lstat, rename, unlink, rmdir, mkdir).
 *
 * Example:
 *   const parts = parsePath('uploads/2024/a.jpg');           // ['uploads', '2024', 'a.jpg']
 *   const dir = await openDirIn(rootPath, parts.slice(0, -1)); // the directory 'uploads/2024'
 *   try { const st = await lstat(dir.at('a.jpg')); } finally { await dir.close(); }
 */
export const MAX_COMPONENTS = 64;
export const MAX_NAME_BYTES = 255;
export const MAX_PATH_BYTES = 4096;

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

const bad = (message: string, path: string, reason: string) =>
  new TriplaneError('TRIPLANE_ERR_VALIDATION', message, { path, reason });

/** Split and check a volume-relative path. Throws TRIPLANE_ERR_VALIDATION. */
export function parsePath(path: string): string[] {
  if (typeof path !== 'string') throw bad('the path must be a string', String(path), 'type');
  if (path === '') return [];
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw bad(`the path is longer than ${MAX_PATH_BYTES} bytes`, path, 'length');
  if (path.includes('\0')) throw bad('the path contains a NUL byte', path, 'nul');
  if (path.startsWith('/')) throw bad('the path must be relative to the site files (no leading /)', path, 'absolute');
  const parts = path.split('/');
  if (parts.length > MAX_COMPONENTS) throw bad(`the path is deeper than ${MAX_COMPONENTS} levels`, path, 'depth');
  for (const p of parts) {
    if (p === '') throw bad('the path has an empty component (// or a trailing /)', path, 'empty');
    if (p === '.' || p === '..') throw bad(`the path may not contain '${p}'`, path, 'dot');
    if (Buffer.byteLength(p) > MAX_NAME_BYTES) throw bad(`a name is longer than ${MAX_NAME_BYTES} bytes`, path, 'name-length');
  }
  return parts;
}

/** Check one new entry name (mkdir, upload). */
export function checkName(name: string): string {
  const parts = parsePath(name);
  if (parts.length !== 1) throw bad('a name may not contain /', name, 'slash');
  return name;
}

/** An open directory inside the volume. */
export interface DirRef {
  /** `/proc/self/fd/<fd>` — the directory itself (readdir, fstat). */
  readonly self: string;
  /** `/proc/self/fd/<fd>/<name>` — an entry of THIS directory (the last component is never followed by our calls). */
  at(name: string): string;
  readonly handle: FileHandle;
  close(): Promise<void>;
}

function dirRef(h: FileHandle): DirRef {
  const self = `/proc/self/fd/${h.fd}`;
  return {
    self,
    handle: h,
    at: (name: string) => {
      checkName(name);
      return `${self}/${name}`;
    },
    close: () => h.close().catch(() => undefined),
  };
}

/** Map a failed open of `name` during the walk to a stable error. */
export function walkError(e: unknown, path: string): TriplaneError {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT')
    return new TriplaneError('TRIPLANE_ERR_NOT_FOUND', `${path || '/'}: no such file or directory`, { path });
  if (code === 'ELOOP' || code === 'EMLINK')
    return new TriplaneError(
      'TRIPLANE_ERR_UNPROCESSABLE',
      `${path}: is (or goes through) a symbolic link; the file manager never follows links`,
      { path, reason: 'symlink' },
    );
  if (code === 'ENOTDIR')
    return new TriplaneError('TRIPLANE_ERR_CONFLICT', `${path}: a component is not a directory`, {
      path,
      reason: 'not-a-directory',
    });
  if (code === 'EACCES' || code === 'EPERM')
    return new TriplaneError('TRIPLANE_ERR_FORBIDDEN', `${path}: permission denied`, { path });
  return new TriplaneError('TRIPLANE_ERR_INTERNAL', `${path}: ${(e as Error)?.message ?? String(e)}`, { path, errno: code });
}

/** O_DIRECTORY wins over O_NOFOLLOW (ENOTDIR for a link): say "symlink" when it is one. */
async function refine(e: unknown, entry: string): Promise<unknown> {
  if ((e as NodeJS.ErrnoException)?.code !== 'ENOTDIR') return e;
  const st = await lstat(entry).catch(() => undefined);
  return st?.isSymbolicLink() ? Object.assign(new Error('symbolic link'), { code: 'ELOOP' }) : e;
}

/**
 * Open the directory `parts` (already parsed) under `root`, component by component, each
 * through the previous one's descriptor and never through a symlink.
 */
export async function openDirIn(root: string, parts: readonly string[]): Promise<DirRef> {
  let h: FileHandle;
  try {
    h = await open(root, DIR_FLAGS);
  } catch (e) {
    throw new TriplaneError('TRIPLANE_ERR_UNAVAILABLE', `the site's volume root can't be opened: ${(e as Error).message}`);
  }
  let walked = '';
  for (const p of parts) {
    walked = walked ? `${walked}/${p}` : p;
    let next: FileHandle;
    try {
      next = await open(`/proc/self/fd/${h.fd}/${p}`, DIR_FLAGS);
    } catch (e) {
      const err = await refine(e, `/proc/self/fd/${h.fd}/${p}`);
      await h.close().catch(() => undefined);
      throw walkError(err, walked);
    }
    await h.close().catch(() => undefined);
    h = next;
  }
  return dirRef(h);
}

/** Open the subdirectory `name` of an open directory (never through a symlink). */
export async function openSubdir(d: DirRef, name: string, path: string): Promise<DirRef> {
  try {
    return dirRef(await open(d.at(name), DIR_FLAGS));
  } catch (e) {
    throw walkError(await refine(e, d.at(name)), path);
  }
}

/** `/proc/self/fd` must exist (Linux with procfs) — without it there is no safe walk at all. */
export async function assertProcFd(): Promise<void> {
  try {
    const h = await open('/proc/self/fd', DIR_FLAGS);
    await h.close();
  } catch {
    throw new TriplaneError('TRIPLANE_ERR_UNAVAILABLE', 'the file manager needs Linux /proc/self/fd');
  }
}
