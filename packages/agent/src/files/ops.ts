import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, readdir, readlink, rename, rmdir, unlink } from 'node:fs/promises';
import { TriplaneError } from '@triplane/kernel';
import { type DirRef, openDirIn, openSubdir, parsePath, walkError } from './safe-path.ts';

/**
 * The file manager's operations on one environment's volume (`root` = its host mountpoint),
 * every path resolved by safe-path.ts. Bounded by construction: a listing returns at most
 * MAX_ENTRIES entries, a read or a write moves at most MAX_FILE_BYTES, a recursive delete
 * removes at most MAX_DELETE entries — so an operation finishes in well under the API's wait.
 *
 * Writes are atomic and keep PHP's access: the bytes go to a temp file in the same directory
 * (O_EXCL | O_NOFOLLOW), owned by the environment's www-data (host uid = 1e9 + slot·65536 + 33,
 * the runtime's --userns=auto mapping) or by the replaced file's owner, fsynced, then renamed
 * over the target (rename never follows the last component).
 */
export const MAX_FILE_BYTES = 5 * 1024 * 1024;
export const MAX_ENTRIES = 5000;
export const MAX_DELETE = 20_000;

export type EntryType = 'file' | 'dir' | 'symlink' | 'other';

export interface FileEntry {
  name: string;
  type: EntryType;
  size: number;
  /** ISO 8601 */
  mtime: string;
  /** permission bits, octal, e.g. '0644' */
  mode: string;
  /** symlinks only: where it points (shown, never followed) */
  target?: string;
}

export interface FileListing {
  path: string;
  entries: FileEntry[];
  truncated: boolean;
}

export interface FileContent {
  path: string;
  size: number;
  mtime: string;
  mode: string;
  base64: string;
}

export interface Owner {
  uid: number;
  gid: number;
}

export interface FsOptions {
  /** Owner of new files and directories (null: leave as created — tests, a non-root agent). */
  owner: Owner | null;
}

/** www-data (33) of the environment's uid slot, as the host sees it. */
export function wwwDataOf(uidSlot: number): Owner {
  const id = 1_000_000_000 + uidSlot * 65536 + 33;
  return { uid: id, gid: id };
}

const typeOf = (st: Stats): EntryType =>
  st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
const modeOf = (st: Stats) => (st.mode & 0o7777).toString(8).padStart(4, '0');
const join = (parts: readonly string[]) => parts.join('/');

function split(path: string): { dirParts: string[]; name: string; parts: string[] } {
  const parts = parsePath(path);
  const name = parts[parts.length - 1];
  if (name === undefined) throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'this needs a path below the root', { path });
  return { dirParts: parts.slice(0, -1), name, parts };
}

async function withDir<T>(root: string, parts: readonly string[], fn: (d: DirRef) => Promise<T>): Promise<T> {
  const d = await openDirIn(root, parts);
  try {
    return await fn(d);
  } finally {
    await d.close();
  }
}

async function lstatIn(d: DirRef, name: string, path: string): Promise<Stats | undefined> {
  try {
    return await lstat(d.at(name));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw walkError(e, path);
  }
}

/** The entries of a directory, directories first, then by name. */
export async function listDir(root: string, path: string): Promise<FileListing> {
  const parts = parsePath(path);
  return withDir(root, parts, async (d) => {
    const names = (await readdir(d.self)).sort();
    const entries: FileEntry[] = [];
    for (const name of names) {
      if (entries.length >= MAX_ENTRIES) break;
      let st: Stats;
      try {
        st = await lstat(d.at(name));
      } catch {
        continue; // gone meanwhile (or a name we refuse to address)
      }
      const e: FileEntry = { name, type: typeOf(st), size: st.size, mtime: st.mtime.toISOString(), mode: modeOf(st) };
      if (e.type === 'symlink') e.target = await readlink(d.at(name)).catch(() => '');
      entries.push(e);
    }
    entries.sort(
      (a, b) => Number(b.type === 'dir') - Number(a.type === 'dir') || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
    );
    return { path: join(parts), entries, truncated: names.length > entries.length };
  });
}

/** A regular file's bytes (≤ MAX_FILE_BYTES). */
export async function readFileIn(root: string, path: string): Promise<FileContent> {
  const { dirParts, name, parts } = split(path);
  return withDir(root, dirParts, async (d) => {
    let h: FileHandle;
    try {
      // O_NONBLOCK: a FIFO planted in the volume must not hang us (it is refused below).
      h = await open(d.at(name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      throw walkError(e, join(parts));
    }
    try {
      const st = await h.stat();
      if (st.isDirectory())
        throw new TriplaneError('TRIPLANE_ERR_CONFLICT', `${join(parts)} is a directory`, {
          path: join(parts),
          reason: 'is-a-directory',
        });
      if (!st.isFile())
        throw new TriplaneError('TRIPLANE_ERR_UNPROCESSABLE', `${join(parts)} is not a regular file`, { path: join(parts) });
      if (st.size > MAX_FILE_BYTES) {
        throw new TriplaneError(
          'TRIPLANE_ERR_PAYLOAD_TOO_LARGE',
          `${join(parts)} is ${st.size} bytes; the file manager reads files up to ${MAX_FILE_BYTES} bytes (use SFTP or a backup for larger ones)`,
          { path: join(parts), size: st.size, limit: MAX_FILE_BYTES },
        );
      }
      const buf = Buffer.alloc(st.size);
      let off = 0;
      while (off < st.size) {
        const { bytesRead } = await h.read(buf, off, st.size - off, off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      return {
        path: join(parts),
        size: off,
        mtime: st.mtime.toISOString(),
        mode: modeOf(st),
        base64: buf.subarray(0, off).toString('base64'),
      };
    } finally {
      await h.close();
    }
  });
}

/** Create or replace a regular file atomically. The parent directory must exist. */
export async function writeFileIn(
  root: string,
  path: string,
  bytes: Buffer,
  o: FsOptions & { createOnly?: boolean },
): Promise<FileEntry> {
  const { dirParts, name, parts } = split(path);
  if (bytes.length > MAX_FILE_BYTES) {
    throw new TriplaneError('TRIPLANE_ERR_PAYLOAD_TOO_LARGE', `files up to ${MAX_FILE_BYTES} bytes can be uploaded here`, {
      size: bytes.length,
      limit: MAX_FILE_BYTES,
    });
  }
  return withDir(root, dirParts, async (d) => {
    const existing = await lstatIn(d, name, join(parts));
    if (existing) {
      if (o.createOnly)
        throw new TriplaneError('TRIPLANE_ERR_ALREADY_EXISTS', `${join(parts)} already exists`, { path: join(parts) });
      if (existing.isDirectory())
        throw new TriplaneError('TRIPLANE_ERR_CONFLICT', `${join(parts)} is a directory`, {
          path: join(parts),
          reason: 'is-a-directory',
        });
      if (existing.isSymbolicLink())
        throw new TriplaneError(
          'TRIPLANE_ERR_UNPROCESSABLE',
          `${join(parts)} is a symbolic link; the file manager doesn't write through links`,
          { path: join(parts), reason: 'symlink' },
        );
      if (!existing.isFile())
        throw new TriplaneError('TRIPLANE_ERR_UNPROCESSABLE', `${join(parts)} is not a regular file`, { path: join(parts) });
    }
    const tmpName = `.tp-upload-${randomBytes(6).toString('hex')}`;
    const mode = existing ? existing.mode & 0o777 : 0o644;
    const owner = existing ? { uid: existing.uid, gid: existing.gid } : o.owner;
    let h: FileHandle;
    try {
      h = await open(d.at(tmpName), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
    } catch (e) {
      throw walkError(e, join(parts));
    }
    try {
      try {
        await h.writeFile(bytes);
        await h.chmod(mode);
        if (owner && process.getuid?.() === 0) await h.chown(owner.uid, owner.gid);
        await h.sync();
      } finally {
        await h.close();
      }
      await rename(d.at(tmpName), d.at(name));
    } catch (e) {
      await unlink(d.at(tmpName)).catch(() => undefined);
      throw e instanceof TriplaneError ? e : walkError(e, join(parts));
    }
    const st = await lstat(d.at(name));
    return { name, type: typeOf(st), size: st.size, mtime: st.mtime.toISOString(), mode: modeOf(st) };
  });
}

/** Create one directory (the parent must exist). */
export async function makeDir(root: string, path: string, o: FsOptions): Promise<FileEntry> {
  const { dirParts, name, parts } = split(path);
  return withDir(root, dirParts, async (d) => {
    try {
      await mkdir(d.at(name), { mode: 0o755 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST')
        throw new TriplaneError('TRIPLANE_ERR_ALREADY_EXISTS', `${join(parts)} already exists`, { path: join(parts) });
      throw walkError(e, join(parts));
    }
    const h = await open(d.at(name), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      await h.chmod(0o755);
      if (o.owner && process.getuid?.() === 0) await h.chown(o.owner.uid, o.owner.gid);
      const st = await h.stat();
      return { name, type: 'dir', size: st.size, mtime: st.mtime.toISOString(), mode: modeOf(st) };
    } finally {
      await h.close();
    }
  });
}

/**
 * Delete a file, a symlink (the link, never its target) or a directory. A non-empty directory
 * needs `recursive`; its contents are removed through directory descriptors too (a link in
 * the tree is unlinked, never entered), at most MAX_DELETE entries.
 */
export async function removeIn(root: string, path: string, o: { recursive?: boolean } = {}): Promise<{ removed: number }> {
  const { dirParts, name, parts } = split(path);
  return withDir(root, dirParts, async (d) => {
    const st = await lstatIn(d, name, join(parts));
    if (!st)
      throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', `${join(parts)}: no such file or directory`, { path: join(parts) });
    if (!st.isDirectory()) {
      await unlink(d.at(name)).catch((e: unknown) => {
        throw walkError(e, join(parts));
      });
      return { removed: 1 };
    }
    const budget = { left: MAX_DELETE };
    const removed = await removeDirIn(d, name, join(parts), o.recursive === true, budget);
    return { removed };
  });
}

async function removeDirIn(
  parent: DirRef,
  name: string,
  path: string,
  recursive: boolean,
  budget: { left: number },
): Promise<number> {
  let count = 0;
  const sub = await openSubdir(parent, name, path);
  try {
    const names = await readdir(sub.self);
    if (names.length && !recursive) {
      throw new TriplaneError('TRIPLANE_ERR_CONFLICT', `${path} is not empty (delete it recursively)`, {
        path,
        reason: 'not-empty',
        entries: names.length,
      });
    }
    for (const n of names) {
      if (--budget.left < 0) {
        throw new TriplaneError(
          'TRIPLANE_ERR_PAYLOAD_TOO_LARGE',
          `more than ${MAX_DELETE} entries: delete ${path} in parts (what was removed so far stays removed)`,
          { path, limit: MAX_DELETE },
        );
      }
      const st = await lstat(sub.at(n)).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory()) count += await removeDirIn(sub, n, `${path}/${n}`, true, budget);
      else {
        await unlink(sub.at(n)).catch((e: unknown) => {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw walkError(e, `${path}/${n}`);
        });
        count++;
      }
    }
  } finally {
    await sub.close();
  }
  await rmdir(parent.at(name)).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'ENOTEMPTY')
      throw new TriplaneError('TRIPLANE_ERR_CONFLICT', `${path} changed while it was being deleted; try again`, { path });
    throw walkError(e, path);
  });
  return count + 1;
}
