import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import cliProgress from 'cli-progress';
import { CliError, EXIT } from './exit.ts';

export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/**
 * Save a download (`res`, a 200 from the API) to `out` — or stdout for `-` — with a progress
 * bar on stderr when it is a terminal, and check its size and sha256 against `expect` (what the
 * job reported). A file is written as `<out>.part` (0600: a backup holds the whole database) and
 * renamed only once verified, so `out` never holds a truncated or corrupted archive.
 */
export async function saveVerified(
  res: Response,
  out: string,
  expect: { bytes: number; sha256: string },
  o: { label: string; quiet: boolean },
): Promise<{ bytes: number; sha256: string }> {
  if (!res.body) throw new CliError(EXIT.error, 'the API sent no body', 'TRIPLANE_ERR_BAD_RESPONSE');
  const total = Number(res.headers.get('content-length') ?? expect.bytes) || expect.bytes;
  const bar =
    process.stderr.isTTY && !o.quiet
      ? new cliProgress.SingleBar(
          {
            format: `${o.label} [{bar}] {percentage}% | {done} / {size}`,
            hideCursor: true,
            stream: process.stderr,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  bar?.start(total, 0, { done: humanBytes(0), size: humanBytes(total) });
  const hash = createHash('sha256');
  let bytes = 0;
  let shown = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      if (bar && bytes - shown > 256 * 1024) {
        shown = bytes;
        bar.update(bytes, { done: humanBytes(bytes) });
      }
      cb(null, chunk);
    },
  });
  const toStdout = out === '-';
  const part = `${out}.part`;
  const sink: Writable = toStdout ? process.stdout : createWriteStream(part, { mode: 0o600 });
  try {
    await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), tap, sink, { end: !toStdout });
  } catch (e) {
    bar?.stop();
    if (!toStdout) await unlink(part).catch(() => undefined);
    throw new CliError(
      EXIT.error,
      `the download broke off after ${humanBytes(bytes)}: ${e instanceof Error ? e.message : String(e)}`,
      'TRIPLANE_ERR_DOWNLOAD_FAILED',
    );
  }
  bar?.update(bytes, { done: humanBytes(bytes) });
  bar?.stop();
  const sha256 = hash.digest('hex');
  if (bytes !== expect.bytes || sha256 !== expect.sha256) {
    if (!toStdout) await unlink(part).catch(() => undefined);
    throw new CliError(
      EXIT.error,
      `the download does not match the archive the job made: ${bytes} bytes, sha256 ${sha256} (expected ${expect.bytes}, ${expect.sha256})`,
      'TRIPLANE_ERR_DOWNLOAD_CORRUPT',
    );
  }
  if (!toStdout) await rename(part, out);
  return { bytes, sha256 };
}
