import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '@triplane/kernel';

/**
 * Append-only log files of the WAF (ModSecurity-style lines, JSON audit records): one write
 * stream per path, shared by every site that names it. Writes are queued on the stream (libuv
 * does the IO), so the request path never waits for the disk; a file whose queue passes
 * MAX_QUEUED bytes (a stuck disk) drops lines and counts them instead of growing without bound.
 * `reopen()` (on every reload, so on SIGHUP) ends the old streams and opens the paths again:
 * logrotate's `create` mode works without copytruncate. Several edge workers appending to one
 * file is safe with O_APPEND: each line is one write.
 */
const MAX_QUEUED = 8 * 1024 * 1024;

export class WafLogFiles {
  readonly #streams = new Map<string, WriteStream>();
  readonly #logger: Logger;
  /** Lines dropped because a file's queue was full or the file could not be opened. */
  dropped = 0;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  write(path: string, line: string): void {
    const s = this.#stream(path);
    if (!s || s.writableLength > MAX_QUEUED) {
      this.dropped++;
      return;
    }
    s.write(`${line}\n`);
  }

  #stream(path: string): WriteStream | undefined {
    let s = this.#streams.get(path);
    if (s) return s.destroyed ? undefined : s;
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch {
      // the open below reports it
    }
    s = createWriteStream(path, { flags: 'a', mode: 0o640 });
    s.on('error', (err) => {
      this.#logger.error({ err: err.message, path }, 'waf log file error; lines are dropped until the next reload');
    });
    this.#streams.set(path, s);
    return s;
  }

  /** Close every file; the next line written to a path opens it again (log rotation). */
  reopen(): void {
    for (const s of this.#streams.values()) s.end();
    this.#streams.clear();
  }

  /** Flush and close every file. */
  async close(): Promise<void> {
    const all = [...this.#streams.values()];
    this.#streams.clear();
    await Promise.all(
      all.map((s) => new Promise<void>((resolve) => (s.destroyed || s.closed ? resolve() : s.end(() => resolve())))),
    );
  }
}
