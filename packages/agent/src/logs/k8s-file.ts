import { open } from 'node:fs/promises';

/**
 * Reading a container's log as Podman's `k8s-file` driver writes it (conmon; the host's
 * containers.conf sets `log_driver = "k8s-file"`): one record per line,
 *
 *   2026-11-25T06:54:24.283541928+00:00 stderr F [25-Nov-2026 06:54:24] NOTICE: fpm is running, pid 1
 *
 * time (RFC 3339, ns), stream, `F` (full) or `P` (partial: conmon split a long line; the next
 * records continue it up to an `F`), then the text.
 */
export interface K8sRecord {
  /** epoch ms */
  at: number;
  stream: 'stdout' | 'stderr';
  partial: boolean;
  text: string;
}

const RECORD = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d) (stdout|stderr) ([PF]) ?(.*)$/;

/** One record, or undefined for a line that isn't one (never thrown: a log is untrusted input). */
export function parseK8sRecord(line: string): K8sRecord | undefined {
  const m = RECORD.exec(line);
  if (!m) return undefined;
  // milliseconds only: Date.parse does not promise to read nanoseconds
  const frac = (m[2] ?? '.000').slice(0, 4).padEnd(4, '0');
  const at = Date.parse(`${m[1]}${frac}${m[3]}`);
  if (Number.isNaN(at)) return undefined;
  return { at, stream: m[4] as K8sRecord['stream'], partial: m[5] === 'P', text: m[6] ?? '' };
}

/** A complete line of a file and the byte offset it starts at. */
export interface FileLine {
  text: string;
  start: number;
}

/** Where a follower stands in a file: its inode (a replaced file has another) and the byte offset read to. */
export interface TailPosition {
  ino: number;
  offset: number;
}

/**
 * Reads a growing file from a byte offset, complete lines only (a line still being written stays for
 * the next read). A file that shrank (truncated) or whose inode changed (replaced, rotated) is read
 * again from its start. Opened per read: a follower holds no descriptor between ticks, so a removed
 * container's log is freed at once.
 *
 * Example:
 *   const t = new FileTail('/…/userdata/ctr.log', saved);   // saved: a TailPosition or undefined (from the start)
 *   const { lines } = await t.read(256 * 1024);                // later reads continue after the last line
 */
export class FileTail {
  readonly path: string;
  #pos: TailPosition | undefined;

  constructor(path: string, from?: TailPosition) {
    this.path = path;
    this.#pos = from;
  }

  get position(): TailPosition | undefined {
    return this.#pos;
  }

  /** Goes back to `offset` of the same file (what a caller could not use yet is read again). */
  rewind(offset: number): void {
    if (this.#pos && offset < this.#pos.offset) this.#pos = { ino: this.#pos.ino, offset };
  }

  /** Up to `maxBytes` of new complete lines; `rotated` when the file was restarted from 0. Missing file: ENOENT thrown. */
  async read(maxBytes: number): Promise<{ lines: FileLine[]; rotated: boolean }> {
    const fh = await open(this.path, 'r');
    try {
      const st = await fh.stat();
      let rotated = false;
      let offset = this.#pos?.offset ?? 0;
      if (this.#pos && (this.#pos.ino !== st.ino || st.size < offset)) {
        rotated = true;
        offset = 0;
      }
      this.#pos = { ino: st.ino, offset };
      if (st.size <= offset) return { lines: [], rotated };
      const want = Math.min(maxBytes, st.size - offset);
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await fh.read(buf, 0, want, offset);
      const chunk = buf.subarray(0, bytesRead);
      const lines: FileLine[] = [];
      let at = 0;
      for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, at)) {
        lines.push({ text: chunk.toString('utf8', at, nl), start: offset + at });
        at = nl + 1;
      }
      // a single line longer than the whole budget: take it as it is rather than stall on it forever
      if (at === 0 && bytesRead === maxBytes) {
        lines.push({ text: chunk.toString('utf8'), start: offset });
        at = bytesRead;
      }
      this.#pos = { ino: st.ino, offset: offset + at };
      return { lines, rotated };
    } finally {
      await fh.close();
    }
  }
}
