import { chmod, mkdir, open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Write `data` to `file` atomically with mode 0600: a temp file in the same directory,
 * fsync, rename. A crash leaves the old file or the new one, never half of either.
 * The parent directory is created 0700 when missing.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}
