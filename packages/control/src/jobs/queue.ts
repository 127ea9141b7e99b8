import { backoffDelay, type Clock, isoNow, isTriplaneError, systemClock, TriplaneError } from '@triplane/kernel';
import type { JobError, JobLogLevel, Lane } from '@triplane/spec';
import { type Kysely, sql } from 'kysely';
import type { DB } from '../store/schema.ts';
import type { Store } from '../store/store.ts';
import type { JobRow } from './enqueue.ts';

/**
 * The durable job queue, in the control-plane store (SQLite or PostgreSQL).
 *
 * Claiming: one statement picks the next claimable job of the worker's lanes and kinds, in
 * order (priority, run_at, id), and takes a lease on it:
 *   SQLite:   inside BEGIN IMMEDIATE (one writer at a time), `UPDATE … WHERE id = (SELECT …
 *             LIMIT 1) RETURNING *`;
 *   Postgres: the same with `FOR UPDATE SKIP LOCKED` in the sub-select, so concurrent
 *             claimers skip each other's rows instead of waiting or double-claiming.
 * A job is claimable when it is `queued` and due (run_at ≤ now), or `running` with an
 * expired lease (its worker crashed or hung): the new claim counts as an attempt.
 *
 * Every later write by a worker (renew, progress, log, complete, fail, release, cancelled)
 * is guarded by `lease_owner = <worker> AND state = 'running'`, so a worker that lost its
 * lease can never overwrite the work of the worker that took the job over. Those calls
 * return false (or `{ ok: false }`) when the guard did not match: the worker must stop.
 */

export interface BackoffConfig {
  baseMs: number;
  capMs: number;
  random?: () => number;
}

export const DEFAULT_BACKOFF: BackoffConfig = { baseMs: 5_000, capMs: 5 * 60_000 };
export const DEFAULT_LEASE_MS = 30_000;
const MAX_MESSAGE = 500;
const MAX_LOG_LINE = 4000;
const MAX_ERROR_MESSAGE = 2000;

export interface ClaimOptions {
  /** Lease holder id (unique per worker process and run). */
  owner: string;
  lanes: readonly Lane[];
  /** Kinds this worker can run; jobs of other kinds are left for other workers. */
  kinds: readonly string[];
  leaseMs: number | ((kind: string) => number);
  /** An agent claiming for its server: only jobs with this server_id. Default: only server_id IS NULL. */
  serverId?: string;
}

export interface LeaseState {
  /** false: this worker does not hold the lease any more (taken over or job finished). */
  ok: boolean;
  cancelRequested: boolean;
}

/** The message of a deferred job starts with this (the worker does not log a new attempt for it). */
export const DEFERRED_PREFIX = 'waiting: ';

function clampMessage(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** A thrown value → the stored error shape (never a stack trace). */
export function toJobError(e: unknown): JobError {
  if (isTriplaneError(e)) {
    const out: JobError = { code: e.code, message: clampMessage(e.message, MAX_ERROR_MESSAGE) };
    if (e.details !== undefined) {
      try {
        out.details = JSON.parse(JSON.stringify(e.details));
      } catch {
        // details that can't be serialized are dropped, not fatal
      }
    }
    return out;
  }
  const message = e instanceof Error ? e.message : String(e);
  return { code: 'TRIPLANE_ERR_JOB_FAILED', message: clampMessage(message || 'job failed', MAX_ERROR_MESSAGE) };
}

/** A TriplaneError with `details.retryable === false` fails the job at once. */
export function isTerminalError(e: unknown): boolean {
  return isTriplaneError(e) && (e.details as { retryable?: unknown } | undefined)?.retryable === false;
}

export class JobQueue {
  readonly store: Store;
  readonly clock: Clock;
  readonly backoff: BackoffConfig;

  constructor(store: Store, opts: { clock?: Clock; backoff?: BackoffConfig } = {}) {
    this.store = store;
    this.clock = opts.clock ?? systemClock;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
  }

  get(id: string): Promise<JobRow | undefined> {
    return this.store.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** A cheap read (no lock): is anything claimable for these lanes and kinds right now? */
  async hasClaimable(lanes: readonly Lane[], kinds: readonly string[], serverId?: string): Promise<boolean> {
    if (lanes.length === 0 || kinds.length === 0) return false;
    const now = this.clock.now();
    const row = await this.store.db
      .selectFrom('jobs')
      .select('id')
      .where((eb) =>
        eb.or([
          eb.and([eb('state', '=', 'queued'), eb('run_at', '<=', now)]),
          eb.and([eb('state', '=', 'running'), eb('lease_expires_at', '<', now)]),
        ]),
      )
      .where('lane', 'in', lanes)
      .where('kind', 'in', kinds)
      .where('server_id', serverId === undefined ? 'is' : '=', serverId ?? null)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Claim the next job, or undefined when none is due. Atomic on both dialects: two workers
   * racing never get the same job. The returned row is the job after the claim
   * (state running, attempts + 1, lease taken).
   */
  async claim(o: ClaimOptions): Promise<JobRow | undefined> {
    if (o.lanes.length === 0 || o.kinds.length === 0) return undefined;
    const now = this.clock.now();
    const iso = isoNow(this.clock);
    const pg = this.store.dialect === 'postgres';
    // The lease length depends on the kind, which is known only after the pick: take a
    // provisional lease of the longest one, then shorten it if needed (same owner).
    const leaseFor = (kind: string) => (typeof o.leaseMs === 'number' ? o.leaseMs : o.leaseMs(kind));
    const provisional = Math.max(...o.kinds.map(leaseFor));
    const run = async (db: Kysely<DB>) =>
      db
        .updateTable('jobs')
        .set((eb) => ({
          state: 'running',
          lease_owner: o.owner,
          lease_expires_at: now + provisional,
          attempts: eb('attempts', '+', 1),
          started_at: sql<string>`coalesce(started_at, ${iso})`,
          updated_at: iso,
        }))
        .where('id', '=', (eb) =>
          eb
            .selectFrom('jobs')
            .select('id')
            .where((w) =>
              w.or([
                w.and([w('state', '=', 'queued'), w('run_at', '<=', now)]),
                w.and([w('state', '=', 'running'), w('lease_expires_at', '<', now)]),
              ]),
            )
            .where('lane', 'in', o.lanes)
            .where('kind', 'in', o.kinds)
            .where('server_id', o.serverId === undefined ? 'is' : '=', o.serverId ?? null)
            .orderBy('priority')
            .orderBy('run_at')
            .orderBy('id')
            .limit(1)
            .$if(pg, (q) => q.forUpdate().skipLocked()),
        )
        .returningAll()
        .executeTakeFirst();
    const job = pg ? await run(this.store.db) : await this.store.transaction(run);
    if (!job) return undefined;
    const lease = leaseFor(job.kind);
    if (lease !== provisional) {
      await this.store.db
        .updateTable('jobs')
        .set({ lease_expires_at: now + lease })
        .where('id', '=', job.id)
        .where('lease_owner', '=', o.owner)
        .execute();
      job.lease_expires_at = now + lease;
    }
    return job;
  }

  /** Extend the lease; also tells whether a cancel was requested. */
  async renew(id: string, owner: string, leaseMs: number): Promise<LeaseState> {
    const row = await this.store.db
      .updateTable('jobs')
      .set({ lease_expires_at: this.clock.now() + leaseMs })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .where('state', '=', 'running')
      .returning('cancel_requested')
      .executeTakeFirst();
    return { ok: row !== undefined, cancelRequested: row?.cancel_requested === 1 };
  }

  /** Read-only check of the lease and the cancel flag (cheaper than renew; no write). */
  async check(id: string, owner: string): Promise<LeaseState> {
    const row = await this.store.db
      .selectFrom('jobs')
      .select(['lease_owner', 'state', 'cancel_requested', 'lease_expires_at'])
      .where('id', '=', id)
      .executeTakeFirst();
    const ok = row !== undefined && row.lease_owner === owner && row.state === 'running';
    return { ok, cancelRequested: row?.cancel_requested === 1 };
  }

  async progress(id: string, owner: string, percent: number, message: string): Promise<LeaseState> {
    const p = Math.max(0, Math.min(100, Math.round(Number.isFinite(percent) ? percent : 0)));
    const row = await this.store.db
      .updateTable('jobs')
      .set({ progress: p, message: clampMessage(message, MAX_MESSAGE), updated_at: isoNow(this.clock) })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .where('state', '=', 'running')
      .returning('cancel_requested')
      .executeTakeFirst();
    return { ok: row !== undefined, cancelRequested: row?.cancel_requested === 1 };
  }

  /**
   * Append a log line. With an owner, only while that worker holds the lease (a worker that
   * lost it can't write into the new attempt's log); without one (the API, the system),
   * always. Returns the line's seq, or undefined when the guard did not match.
   */
  async log(id: string, owner: string | null, level: JobLogLevel, message: string): Promise<number | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.store.transaction(async (trx) => appendLog(trx, id, owner, level, message, this.clock));
      } catch (e) {
        // Two writers computed the same seq (Postgres, read committed): try again.
        const code = (e as { code?: string }).code;
        if (attempt < 5 && (code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY')) continue;
        throw e;
      }
    }
  }

  async logs(id: string, after = 0, limit = 500): Promise<{ seq: number; at: string; level: string; message: string }[]> {
    return this.store.db
      .selectFrom('job_logs')
      .select(['seq', 'at', 'level', 'message'])
      .where('job_id', '=', id)
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(limit)
      .execute();
  }

  /**
   * Complete a job and run `hook` in the same transaction (agent jobs record what they made,
   * e.g. the backup row). If the hook throws, nothing of the completion is kept and the job
   * fails with the hook's error instead (terminal when it says `retryable: false`).
   */
  async completeWith(
    id: string,
    owner: string,
    result: unknown,
    hook: (trx: Kysely<DB>, job: JobRow) => Promise<void>,
  ): Promise<{ ok: boolean; outcome: 'succeeded' | 'retry' | 'failed' | 'lost' }> {
    try {
      const done = await this.store.transaction(async (trx) => {
        const job = await trx.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
        if (!job || job.lease_owner !== owner || job.state !== 'running') return false;
        await hook(trx, job);
        return this.#markSucceeded(trx, id, owner, result);
      });
      return { ok: done, outcome: done ? 'succeeded' : 'lost' };
    } catch (e) {
      const r = await this.fail(id, owner, e);
      return { ok: r.outcome !== 'lost', outcome: r.outcome };
    }
  }

  async complete(id: string, owner: string, result: unknown): Promise<boolean> {
    return this.#markSucceeded(this.store.db, id, owner, result);
  }

  /** running → succeeded with `result`, guarded by the lease (false: this owner lost the job). */
  async #markSucceeded(db: Kysely<DB>, id: string, owner: string, result: unknown): Promise<boolean> {
    const iso = isoNow(this.clock);
    let json: string | null = null;
    if (result !== undefined) {
      try {
        json = JSON.stringify(result) ?? null;
      } catch {
        json = JSON.stringify({ note: 'the handler returned a value that is not JSON' });
      }
    }
    const r = await db
      .updateTable('jobs')
      .set({
        state: 'succeeded',
        result: json,
        error: null,
        progress: 100,
        message: 'done',
        lease_owner: null,
        lease_expires_at: null,
        updated_at: iso,
        finished_at: iso,
      })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .where('state', '=', 'running')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /**
   * Record a failed attempt. Terminal errors (`details.retryable === false`) and the last
   * allowed attempt end the job in `failed`; otherwise it goes back to `queued` with
   * run_at = now + backoff(attempts). Returns what happened, or 'lost' if the lease was gone.
   */
  async fail(id: string, owner: string, err: unknown): Promise<{ outcome: 'retry' | 'failed' | 'lost'; delayMs?: number }> {
    const job = await this.get(id);
    if (!job || job.lease_owner !== owner || job.state !== 'running') return { outcome: 'lost' };
    const error = toJobError(err);
    const iso = isoNow(this.clock);
    const base = this.store.db
      .updateTable('jobs')
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .where('state', '=', 'running');
    if (isTerminalError(err) || job.attempts >= job.max_attempts) {
      const r = await base
        .set({
          state: 'failed',
          error: JSON.stringify(error),
          message: clampMessage(`failed: ${error.message}`, MAX_MESSAGE),
          lease_owner: null,
          lease_expires_at: null,
          updated_at: iso,
          finished_at: iso,
        })
        .executeTakeFirst();
      return { outcome: Number(r.numUpdatedRows) === 1 ? 'failed' : 'lost' };
    }
    const delayMs = backoffDelay(job.attempts, this.backoff);
    const r = await base
      .set({
        state: 'queued',
        error: JSON.stringify(error),
        run_at: this.clock.now() + delayMs,
        message: clampMessage(
          `attempt ${job.attempts} failed, retrying in ${Math.ceil(delayMs / 1000)}s: ${error.message}`,
          MAX_MESSAGE,
        ),
        lease_owner: null,
        lease_expires_at: null,
        updated_at: iso,
      })
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1 ? { outcome: 'retry', delayMs } : { outcome: 'lost' };
  }

  /** The worker stopped the job because a cancel was requested. */
  async markCancelled(id: string, owner: string): Promise<boolean> {
    const iso = isoNow(this.clock);
    const r = await this.store.db
      .updateTable('jobs')
      .set({
        state: 'cancelled',
        message: 'cancelled',
        error: JSON.stringify({ code: 'TRIPLANE_ERR_JOB_CANCELLED', message: 'the job was cancelled' }),
        lease_owner: null,
        lease_expires_at: null,
        updated_at: iso,
        finished_at: iso,
      })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .where('state', '=', 'running')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /**
   * A stopping worker gives the job back without counting the attempt: queued, due now,
   * for the next worker (handlers are idempotent steps and resume).
   */
  release(id: string, owner: string): Promise<boolean> {
    return this.#requeue(id, owner, 0, 'released by a stopping worker; will resume');
  }

  /**
   * The handler waits for something outside it (JobDeferred): queued again, due in `delayMs`,
   * the attempt not counted, the worker free meanwhile.
   */
  defer(id: string, owner: string, delayMs: number, message: string): Promise<boolean> {
    return this.#requeue(id, owner, delayMs, clampMessage(`${DEFERRED_PREFIX}${message}`, 500));
  }

  /** running (held by `owner`) → queued, due in `delayMs`, the attempt given back. */
  async #requeue(id: string, owner: string, delayMs: number, message: string): Promise<boolean> {
    const r = await this.store.db
      .updateTable('jobs')
      .set((eb) => ({
        state: 'queued',
        attempts: sql<number>`case when ${eb.ref('attempts')} > 0 then ${eb.ref('attempts')} - 1 else 0 end`,
        run_at: this.clock.now() + delayMs,
        message,
        lease_owner: null,
        lease_expires_at: null,
        updated_at: isoNow(this.clock),
      }))
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .where('state', '=', 'running')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** See cancelJob. */
  cancel(id: string): Promise<JobRow> {
    return this.store.transaction((trx) => cancelJob(trx, id, this.clock));
  }

  /** See retryJob. */
  retry(id: string): Promise<JobRow> {
    return this.store.transaction((trx) => retryJob(trx, id, this.clock));
  }
}

async function appendLog(
  trx: Kysely<DB>,
  id: string,
  owner: string | null,
  level: JobLogLevel,
  message: string,
  clock: Clock,
): Promise<number | undefined> {
  const job = await trx.selectFrom('jobs').select(['lease_owner', 'state']).where('id', '=', id).executeTakeFirst();
  if (!job) return undefined;
  if (owner !== null && (job.lease_owner !== owner || job.state !== 'running')) return undefined;
  const last = await trx
    .selectFrom('job_logs')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .where('job_id', '=', id)
    .executeTakeFirst();
  const seq = Number(last?.seq ?? 0) + 1;
  await trx
    .insertInto('job_logs')
    .values({ job_id: id, seq, at: isoNow(clock), level, message: clampMessage(message, MAX_LOG_LINE) })
    .execute();
  return seq;
}

/**
 * Cancel a job (call inside the API's transaction, with the audit entry):
 * queued → cancelled at once; running → cancel_requested = 1 (its worker aborts the
 * handler and marks it cancelled); already cancel-requested → unchanged;
 * finished → TRIPLANE_ERR_CONFLICT.
 */
export async function cancelJob(trx: Kysely<DB>, id: string, clock: Clock = systemClock): Promise<JobRow> {
  const iso = isoNow(clock);
  const job = await trx.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  if (!job) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'job not found');
  if (job.state === 'queued') {
    const row = await trx
      .updateTable('jobs')
      .set({
        state: 'cancelled',
        message: 'cancelled',
        error: JSON.stringify({ code: 'TRIPLANE_ERR_JOB_CANCELLED', message: 'the job was cancelled' }),
        updated_at: iso,
        finished_at: iso,
      })
      .where('id', '=', id)
      .where('state', '=', 'queued')
      .returningAll()
      .executeTakeFirst();
    if (row) return row;
    // claimed in between (Postgres: a worker won the race): treat as running below
  }
  const row = await trx
    .updateTable('jobs')
    .set({ cancel_requested: 1, message: 'cancelling', updated_at: iso })
    .where('id', '=', id)
    .where('state', '=', 'running')
    .returningAll()
    .executeTakeFirst();
  if (row) return row;
  const now = await trx.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  throw new TriplaneError('TRIPLANE_ERR_CONFLICT', `the job is already ${now.state}`, { state: now.state });
}

/**
 * Put a failed or cancelled job back in the queue with a new attempt budget (call inside
 * the API's transaction). Other states → TRIPLANE_ERR_CONFLICT.
 */
export async function retryJob(trx: Kysely<DB>, id: string, clock: Clock = systemClock): Promise<JobRow> {
  const job = await trx.selectFrom('jobs').select(['state']).where('id', '=', id).executeTakeFirst();
  if (!job) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'job not found');
  const row = await trx
    .updateTable('jobs')
    .set({
      state: 'queued',
      attempts: 0,
      run_at: clock.now(),
      progress: 0,
      message: 'queued (retry)',
      result: null,
      error: null,
      cancel_requested: 0,
      lease_owner: null,
      lease_expires_at: null,
      finished_at: null,
      updated_at: isoNow(clock),
    })
    .where('id', '=', id)
    .where('state', 'in', ['failed', 'cancelled'])
    .returningAll()
    .executeTakeFirst();
  if (!row) {
    throw new TriplaneError('TRIPLANE_ERR_CONFLICT', `only failed or cancelled jobs can be retried; this one is ${job.state}`, {
      state: job.state,
    });
  }
  return row;
}

/** Append a log line from outside a worker (API actions, the system), inside a transaction. */
export function appendJobLog(
  trx: Kysely<DB>,
  id: string,
  level: JobLogLevel,
  message: string,
  clock: Clock = systemClock,
): Promise<number | undefined> {
  return appendLog(trx, id, null, level, message, clock);
}
