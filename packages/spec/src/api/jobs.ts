import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Id, Lane, Timestamp } from '../primitives.ts';

/**
 * Jobs as the API shows them. A job's life:
 *
 *   queued ──claim──► running ──► succeeded
 *     ▲  │              │ │ └───► failed      (terminal error, or attempts used up)
 *     │  │              │ └─────► cancelled   (cancel requested; the worker stopped it)
 *     │  └──cancel──────┼───────► cancelled
 *     └──retry (backoff)┘          (a worker that lost its lease is replaced: attempts + 1)
 *
 * `POST /jobs/{id}/retry` puts a failed or cancelled job back in `queued` with a new
 * attempt budget.
 */
export const JobState = Type.Union([
  Type.Literal('queued'),
  Type.Literal('running'),
  Type.Literal('succeeded'),
  Type.Literal('failed'),
  Type.Literal('cancelled'),
]);
export type JobState = Static<typeof JobState>;

export const TERMINAL_JOB_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

export function isTerminalJobState(s: string): boolean {
  return (TERMINAL_JOB_STATES as readonly string[]).includes(s);
}

/** Why a job failed (or why its last attempt failed, while it waits for a retry). */
export const JobError = Type.Object(
  {
    code: Type.String(),
    message: Type.String(),
    details: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false },
);
export type JobError = Static<typeof JobError>;

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const Job = Type.Object(
  {
    id: Id,
    kind: Type.String({ description: 'dotted job kind, e.g. `site.provision`, `store.integrity-check`' }),
    lane: Lane,
    state: JobState,
    orgId: Nullable(Id),
    siteId: Nullable(Id),
    environmentId: Nullable(Id),
    params: Type.Unknown({ description: 'the JSON object the job was enqueued with' }),
    result: Type.Unknown({ description: 'what the handler returned (JSON), null until it succeeded' }),
    error: Nullable(JobError),
    progress: Type.Integer({ minimum: 0, maximum: 100 }),
    message: Type.String(),
    attempts: Type.Integer({ minimum: 0, description: 'attempts started so far (a lost lease counts as one)' }),
    maxAttempts: Type.Integer({ minimum: 1 }),
    runAt: Timestamp,
    cancelRequested: Type.Boolean(),
    createdBy: Nullable(Type.String()),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    startedAt: Nullable(Timestamp),
    finishedAt: Nullable(Timestamp),
    serverId: Type.Optional(Nullable(Id)),
  },
  { additionalProperties: false },
);
export type Job = Static<typeof Job>;

export const JobList = Type.Object(
  {
    items: Type.Array(Job),
    /** Pass as `cursor` to get the next (older) page; null on the last page. */
    nextCursor: Nullable(Type.String()),
  },
  { additionalProperties: false },
);
export type JobList = Static<typeof JobList>;

export const JobLogLevel = Type.Union([Type.Literal('info'), Type.Literal('warn'), Type.Literal('error')]);
export type JobLogLevel = Static<typeof JobLogLevel>;

export const JobLog = Type.Object(
  {
    seq: Type.Integer({ minimum: 1, description: 'per-job sequence, 1, 2, 3…; use as `after`' }),
    at: Timestamp,
    level: JobLogLevel,
    message: Type.String(),
  },
  { additionalProperties: false },
);
export type JobLog = Static<typeof JobLog>;

export const JobLogList = Type.Object(
  {
    items: Type.Array(JobLog),
    /** The highest seq returned (or the `after` given when none): pass as `after` to continue. */
    last: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type JobLogList = Static<typeof JobLogList>;

/**
 * Events of `GET /api/v1/jobs/{id}/events` (text/event-stream). Each is sent as
 * `event: <event>\ndata: <JSON>\n\n`:
 * - `progress`: the job (Job JSON) whenever its state, progress, message or attempts change
 *   (and once at the start);
 * - `log`: one new log line (JobLog JSON);
 * - `end`: the job in its terminal state; the server then closes the stream.
 * Lines starting with `:` are heartbeats.
 */
export const JobEvent = Type.Union([
  Type.Object({ event: Type.Literal('progress'), data: Job }, { additionalProperties: false }),
  Type.Object({ event: Type.Literal('log'), data: JobLog }, { additionalProperties: false }),
  Type.Object({ event: Type.Literal('end'), data: Job }, { additionalProperties: false }),
]);
export type JobEvent = Static<typeof JobEvent>;
