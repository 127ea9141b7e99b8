import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Content hash of a recipe folder: every file's relative path, type, executable bit and
 * bytes (symlinks by target), in sorted order. Timestamps and owners are ignored, so a
 * fresh clone hashes the same as the working tree it came from.
 *
 * Example: await hashTree('/work/main/images/php') -> 'sha256 hex'
 */
export async function hashTree(root: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    const entries = (await readdir(join(root, rel))).sort();
    for (const name of entries) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const p = join(root, r);
      const st = await lstat(p);
      if (st.isDirectory()) {
        h.update(`d ${r}\n`);
        await walk(r);
      } else if (st.isSymbolicLink()) {
        h.update(`l ${r} ${await readlink(p)}\n`);
      } else if (st.isFile()) {
        const data = await readFile(p);
        h.update(`f ${r} ${st.mode & 0o111 ? 'x' : '-'} ${data.length}\n`);
        h.update(data);
      }
    }
  };
  await walk('');
  return h.digest('hex');
}

/** Combines named parts into one short, stable tag-friendly hash (16 hex chars). */
export function combineHash(parts: Record<string, string>): string {
  const h = createHash('sha256');
  for (const k of Object.keys(parts).sort()) h.update(`${k}=${parts[k]}\n`);
  return h.digest('hex').slice(0, 16);
}
