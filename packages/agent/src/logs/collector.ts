import { readFile, stat } from 'node:fs/promises';
import { type Logger, silentLogger, writeFileAtomic } from '@triplane/kernel';
import { run } from '@triplane/runtime';
import { AGENT_LOGS_MAX_BATCH, type AgentLogBatch, type AgentLogLine } from '@triplane/spec';
import { FileTail, parseK8sRecord, type TailPosition } from './k8s-file.ts';
import { continuesPrevious, FOLLOWED_CONTAINERS, nginxLine, phpLine, type SiteLine } from './site-lines.ts';

/** A container of a site pod and where Podman writes its log. */
export interface LogContainer {
  id: string;
  podName: string;
  /** Full name, `<pod>-<container>`. */
  name: string;
  /** The k8s-file log (`podman inspect` .HostConfig.LogConfig.Path). */
  logPath: string;
  /** Creation time, epoch ms (undefined: unknown, taken as before the collector started). */
  createdMs?: number | undefined;
}

export interface SiteLogCollectorOptions {
  /** The environments this server runs and their pod names (from the assignment). */
  environments: () => readonly { id: string; podName: string }[];
  /** Sends one batch (the control link's authenticated `POST /agents/{id}/logs`); a throw = retry later. */
  post: (batch: AgentLogBatch) => Promise<unknown>;
  /** Where read positions are kept across agent restarts (JSON); none: start at the end of each log. */
  stateFile?: string | undefined;
  intervalMs?: number;
  /** Lines held in memory at most; at the bound reading pauses (the lines wait in the log files). */
  maxQueue?: number;
  /** Bytes read per container per tick at most. */
  readBytes?: number;
  /** Containers of pods; default `podman ps -a --pod` + `podman inspect` (k8s-file log paths). */
  listContainers?: () => Promise<LogContainer[]>;
  logger?: Logger;
  /** Wall clock, epoch ms (tests). */
  now?: () => number;
}

interface Followed {
  container: LogContainer;
  environmentId: string;
  source: SiteLine['source'];
  tail: FileTail;
  /** Records before this instant (epoch ms) are history, not shipped (see #tailFor). */
  notBefore: number;
}

interface Queued {
  line: AgentLogLine;
  containerId: string;
  /** Byte offset of the line's first record: until it is shipped, a restart re-reads from here. */
  start: number;
}

interface SavedState {
  version: 1;
  containers: Record<string, TailPosition & { path: string }>;
}

/** The container list is re-read at least this often (pods are replaced, containers restart). */
const RELIST_MS = 30_000;
/** Lines older than this are not shipped (the control plane keeps 24 h); counted as dropped. */
const MAX_AGE_MS = 24 * 3_600_000;
/** A container first seen with no saved position starts this far before its log's end at most. */
const FIRST_READ_MAX = 4 * 1024 * 1024;
/** …and on the very first run, this far (its lines from before the collector started are skipped). */
const FIRST_RUN_READ_MAX = 64 * 1024;
/** A line with its continuations (a stack trace) is not joined past this many characters. */
const JOINED_MAX = 16 * 1024;
/** Batches per tick at most (AGENT_LOGS_MAX_BATCH lines each). */
const BATCHES_PER_TICK = 10;
/** A partial record (conmon split a long line) waits for its end unless it grew past this. */
const PARTIAL_MAX = 64 * 1024;

/**
 * Ships the site pods' own error logs — nginx's error log (the `web` container) and php-fpm's log with
 * PHP's errors (the `php` container) — to the control plane (docs/logs.md).
 *
 * Why the container log files: both programs already write to stderr (the images can't log to
 * /dev/stderr under --userns=auto, pitfall 11), and Podman's k8s-file driver keeps that on the host
 * as a plain file per container. Reading those files needs no change to the images, no process per
 * container (a `podman logs --follow` each would be 400 children for 200 sites) and resumes exactly
 * by byte offset after an agent restart; a new inode or a shorter file means the log was replaced.
 *
 * Every `intervalMs` (2 s): re-list containers when the environments changed or every 30 s, read
 * each followed log from its position (≤ readBytes), turn records into lines, queue them, and POST
 * batches of ≤ AGENT_LOGS_MAX_BATCH, one at a time. A failed POST keeps its lines for the next tick;
 * while the queue is full reading pauses, so the lines wait on disk instead of being dropped. The
 * position saved across restarts is that of the oldest line not yet accepted (at-least-once).
 * Runs on its own timer beside the reconcile loop and never blocks it.
 *
 * Example:
 *   const c = new SiteLogCollector({ environments: () => envs, post: (b) => link.call('POST', `/agents/${id}/logs`, b),
 *                                    stateFile: join(stateDir, 'site-logs.json') });
 *   c.start(); …; await c.stop();
 */
export class SiteLogCollector {
  readonly #o: SiteLogCollectorOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #maxQueue: number;
  #followed = new Map<string, Followed>();
  #queue: Queued[] = [];
  #saved: SavedState | undefined;
  #loaded = false;
  #listedAt = Number.NEGATIVE_INFINITY;
  #listedFor = '';
  #listedOnce = false;
  #stateDirty = false;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #unsentDropped = 0;
  #failures = 0;
  readonly #startedMs: number;
  readonly stats = { read: 0, shipped: 0, dropped: 0, failedPosts: 0 };

  constructor(o: SiteLogCollectorOptions) {
    this.#o = o;
    this.#log = o.logger ?? silentLogger();
    this.#now = o.now ?? Date.now;
    this.#maxQueue = o.maxQueue ?? 10_000;
    this.#startedMs = this.#now();
  }

  start(): void {
    if (this.#timer) return;
    void this.tick();
    this.#timer = setInterval(() => void this.tick(), this.#o.intervalMs ?? 2000);
    this.#timer.unref();
  }

  /** Stops the timer, waits for a tick in flight and saves the positions. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
    await this.#save().catch(() => {});
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** One pass: list, read, ship, save. A tick finding the previous one running returns it. Never throws. */
  tick(): Promise<void> {
    if (this.#running) return this.#running;
    this.#running = this.#tick().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #tick(): Promise<void> {
    try {
      await this.#load();
      await this.#relistIfDue();
      await this.#readAll();
      await this.#ship();
      if (this.#stateDirty) await this.#save();
    } catch (e) {
      this.#log.warn({ err: (e as Error).message }, 'site logs: tick failed');
    }
  }

  async #load(): Promise<void> {
    if (this.#loaded) return;
    this.#loaded = true;
    if (!this.#o.stateFile) return;
    try {
      const s = JSON.parse(await readFile(this.#o.stateFile, 'utf8')) as SavedState;
      if (s?.version === 1 && s.containers && typeof s.containers === 'object') this.#saved = s;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        this.#log.warn({ err: (e as Error).message }, 'site logs: unreadable saved positions, starting at the end of each log');
    }
  }

  async #relistIfDue(): Promise<void> {
    const envs = this.#o.environments();
    const key = envs
      .map((e) => `${e.id}=${e.podName}`)
      .sort()
      .join(',');
    if (key === this.#listedFor && this.#now() - this.#listedAt < RELIST_MS) return;
    const byPod = new Map(envs.map((e) => [e.podName, e.id]));
    let list: LogContainer[] = [];
    if (byPod.size > 0) {
      try {
        list = await (this.#o.listContainers ?? listLogContainers)();
      } catch (e) {
        this.#log.warn({ err: (e as Error).message }, 'site logs: cannot list containers');
        return;
      }
    }
    this.#listedFor = key;
    this.#listedAt = this.#now();
    this.#listedOnce = true;
    const next = new Map<string, Followed>();
    for (const c of list) {
      const environmentId = byPod.get(c.podName);
      const source = FOLLOWED_CONTAINERS[c.name.startsWith(`${c.podName}-`) ? c.name.slice(c.podName.length + 1) : ''];
      if (!environmentId || !source || !c.logPath) continue;
      const old = this.#followed.get(c.id);
      if (old && old.tail.path === c.logPath) {
        next.set(c.id, old);
        continue;
      }
      next.set(c.id, { container: c, environmentId, source, ...(await this.#tailFor(c)) });
    }
    if (this.#followed.size !== next.size || [...next.keys()].some((k) => !this.#followed.has(k))) this.#stateDirty = true;
    this.#followed = next;
    // lines of containers no longer followed stay queued: they were read and are still worth shipping
  }

  /**
   * Where to start a container's log: its saved position; else from its start (a container created
   * since the agent last ran or while it runs: its first errors matter most; a huge log only from near
   * its end) — except on the very first run (nothing saved yet), where a container older than the
   * collector ships only what it wrote since the collector started: no history is replayed, and
   * nothing written while the first `podman ps` was running is missed.
   */
  async #tailFor(c: LogContainer): Promise<{ tail: FileTail; notBefore: number }> {
    const saved = this.#saved?.containers[c.id];
    if (saved && saved.path === c.logPath)
      return { tail: new FileTail(c.logPath, { ino: saved.ino, offset: saved.offset }), notBefore: 0 };
    const old = this.#saved === undefined && (c.createdMs ?? 0) < this.#startedMs;
    const notBefore = old ? this.#startedMs : 0;
    try {
      const { size, ino } = await stat(c.logPath);
      const back = old ? FIRST_RUN_READ_MAX : FIRST_READ_MAX;
      return { tail: new FileTail(c.logPath, { ino, offset: Math.max(0, size - back) }), notBefore };
    } catch {
      return { tail: new FileTail(c.logPath), notBefore };
    }
  }

  async #readAll(): Promise<void> {
    const budget = this.#o.readBytes ?? 256 * 1024;
    for (const [id, f] of this.#followed) {
      if (this.#queue.length >= this.#maxQueue) return; // backpressure: the rest waits on disk
      try {
        const before = f.tail.position?.offset;
        const { lines, rotated } = await f.tail.read(budget);
        if (rotated) this.#log.info({ container: f.container.name }, 'site logs: log file replaced, reading it from its start');
        if (lines.length > 0 || f.tail.position?.offset !== before) this.#stateDirty = true;
        this.#take(id, f, lines);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
          // the container is gone (pod replaced): forget it, and list again next tick
          this.#followed.delete(id);
          this.#listedAt = Number.NEGATIVE_INFINITY;
          this.#stateDirty = true;
        } else this.#log.warn({ container: f.container.name, err: (e as Error).message }, 'site logs: read failed');
      }
    }
  }

  /**
   * Records → lines: partial records joined (conmon split a long line), continuation lines appended to
   * the line they continue (a stack trace), history and lines past 24 h skipped. A line starting at the
   * offset where reading began may be the rest of a line (a read from the middle of a file): it
   * fails to parse as a record or is shipped as it is.
   */
  #take(containerId: string, f: Followed, lines: { text: string; start: number }[]): void {
    const tooOld = this.#now() - MAX_AGE_MS;
    let partial: { text: string; start: number; at: number } | undefined;
    let entry: { text: string; start: number; at: number } | undefined;
    const flush = () => {
      if (!entry) return;
      const e = entry;
      entry = undefined;
      if (e.at < f.notBefore) return;
      if (e.at < tooOld) {
        this.stats.dropped++;
        this.#unsentDropped++;
        return;
      }
      const site = f.source === 'nginx' ? nginxLine(e.text, e.at) : phpLine(e.text, e.at);
      if (!site) return;
      this.#queue.push({ line: { environmentId: f.environmentId, ...site }, containerId, start: e.start });
      this.stats.read++;
    };
    for (const l of lines) {
      const r = parseK8sRecord(l.text);
      if (!r) continue;
      if (r.partial) {
        partial = partial ? { ...partial, text: partial.text + r.text } : { text: r.text, start: l.start, at: r.at };
        if (partial.text.length <= PARTIAL_MAX) continue;
      }
      const text = partial ? partial.text + (r.partial ? '' : r.text) : r.text;
      const start = partial ? partial.start : l.start;
      const at = partial ? partial.at : r.at;
      partial = undefined;
      if (entry && continuesPrevious(f.source, text)) {
        if (entry.text.length < JOINED_MAX) entry.text += `\n${text}`;
        continue;
      }
      flush();
      entry = { text, start, at };
    }
    flush();
    // a long line still being written: read it again, whole, next time
    if (partial) f.tail.rewind(partial.start);
  }

  async #ship(): Promise<void> {
    for (let i = 0; i < BATCHES_PER_TICK && this.#queue.length > 0; i++) {
      const batch = this.#queue.slice(0, AGENT_LOGS_MAX_BATCH);
      const body: AgentLogBatch = { lines: batch.map((q) => q.line) };
      if (this.#unsentDropped > 0) body.dropped = this.#unsentDropped;
      try {
        await this.#o.post(body);
      } catch (e) {
        this.stats.failedPosts++;
        if (this.#failures++ % 30 === 0)
          this.#log.warn({ err: (e as Error).message, queued: this.#queue.length }, 'site logs: ship failed, will retry');
        return;
      }
      this.#failures = 0;
      this.#unsentDropped -= body.dropped ?? 0;
      this.#queue.splice(0, batch.length);
      this.stats.shipped += batch.length;
      this.#stateDirty = true;
    }
  }

  /** Positions to resume from: the oldest line still queued of each container, else where reading stands. */
  async #save(): Promise<void> {
    // before any listing there is nothing to save (an empty file would read as "every container is new")
    if (!this.#o.stateFile || !this.#listedOnce) return;
    const containers: SavedState['containers'] = {};
    for (const [id, f] of this.#followed) {
      const p = f.tail.position;
      if (p) containers[id] = { path: f.tail.path, ino: p.ino, offset: p.offset };
    }
    for (const q of this.#queue) {
      const c = containers[q.containerId];
      if (c && q.start < c.offset) c.offset = q.start;
    }
    this.#saved = { version: 1, containers };
    this.#stateDirty = false;
    await writeFileAtomic(this.#o.stateFile, JSON.stringify(this.#saved));
  }
}

interface PsRow {
  Id?: string;
  Names?: string[] | string;
  PodName?: string;
  IsInfra?: boolean;
  /** epoch seconds */
  Created?: number;
}

/** The non-infra containers of pods (running or not: a crashed container's last lines matter) and their log files. */
export async function listLogContainers(): Promise<LogContainer[]> {
  const ps = await run('podman', ['ps', '-a', '--pod', '--format', 'json'], { timeoutMs: 30_000 });
  const rows = (JSON.parse(ps.stdout || '[]') as PsRow[]).filter((r) => !r.IsInfra && r.PodName && r.Id);
  if (rows.length === 0) return [];
  const ins = await run(
    'podman',
    [
      'inspect',
      '--type',
      'container',
      '--format',
      '{{.Id}} {{.HostConfig.LogConfig.Type}} {{.HostConfig.LogConfig.Path}}',
      ...rows.map((r) => r.Id as string),
    ],
    // a container removed between the two commands makes inspect fail for it only
    { timeoutMs: 30_000, allowFailure: true },
  );
  const paths = new Map<string, string>();
  for (const l of ins.stdout.split('\n')) {
    const [id, type, path] = l.trim().split(' ');
    if (id && type === 'k8s-file' && path) paths.set(id, path);
  }
  return rows.flatMap((r) => {
    const logPath = paths.get(r.Id as string);
    if (!logPath) return [];
    const name = (Array.isArray(r.Names) ? r.Names[0] : r.Names) ?? '';
    const createdMs = typeof r.Created === 'number' ? r.Created * 1000 : undefined;
    return [{ id: r.Id as string, podName: r.PodName as string, name, logPath, createdMs }];
  });
}
