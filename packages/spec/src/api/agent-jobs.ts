import { type Static, Type } from '@sinclair/typebox';
import { Id, Timestamp } from '../primitives.ts';

/**
 * Jobs that run ON an app server (backup, restore, clone, sync): the control plane enqueues
 * them with the server's id; that server's agent claims them and reports through these calls
 * (routes/agents/jobs.ts). The lease works like the control plane's own workers': the agent
 * renews it with every progress call (at least every `leaseMs / 3`); if it stops (agent crash,
 * host down) the lease expires and the job is claimed again as a new attempt — executors are
 * resumable steps.
 *
 *   POST /agents/{id}/jobs/claim                {owner, kinds, wait?}   → {job | null}
 *   POST /agents/{id}/jobs/{jobId}/progress     {owner, percent?, message?, logs?} → {ok, cancelRequested}
 *   POST /agents/{id}/jobs/{jobId}/complete     {owner, result?}        → {ok}
 *   POST /agents/{id}/jobs/{jobId}/fail         {owner, error, retryable} → {ok, outcome}
 *   POST /agents/{id}/jobs/{jobId}/cancelled    {owner}                 → {ok}
 *   POST /agents/{id}/jobs/{jobId}/release      {owner}                 → {ok}
 *   PUT  /agents/{id}/jobs/{jobId}/artifact?owner=…  body: the job's archive (application/gzip,
 *        streamed) → {ok, bytes, sha256}; kept by the control plane for download (backup.export)
 * `ok: false` = this agent run does not hold the job any more: stop working on it.
 */
export const AgentJobOwner = Type.String({
  pattern: '^[A-Za-z0-9_.:-]{1,80}$',
  description: 'the claiming agent run (unique per agent process start)',
});

export const AgentJobParams = Type.Object({ serverId: Id, jobId: Id }, { additionalProperties: false });

export const AgentJobClaimRequest = Type.Object(
  {
    owner: AgentJobOwner,
    kinds: Type.Array(Type.String({ pattern: '^[a-z][a-z0-9.-]{1,60}$' }), { minItems: 1, maxItems: 50 }),
    wait: Type.Optional(Type.Integer({ minimum: 0, maximum: 30, description: 'long-poll seconds' })),
  },
  { additionalProperties: false },
);
export type AgentJobClaimRequest = Static<typeof AgentJobClaimRequest>;

export const AgentJob = Type.Object(
  {
    id: Id,
    kind: Type.String(),
    params: Type.Unknown(),
    attempts: Type.Integer(),
    maxAttempts: Type.Integer(),
    leaseMs: Type.Integer(),
    environmentId: Type.Union([Id, Type.Null()]),
    /** When the job was queued (an agent gives a job it can't start yet a bounded wait). */
    createdAt: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);
export type AgentJob = Static<typeof AgentJob>;

export const AgentJobClaimResponse = Type.Object({ job: Type.Union([AgentJob, Type.Null()]) }, { additionalProperties: false });
export type AgentJobClaimResponse = Static<typeof AgentJobClaimResponse>;

export const AgentJobLogLine = Type.Object(
  {
    level: Type.Union([Type.Literal('info'), Type.Literal('warn'), Type.Literal('error')]),
    message: Type.String({ maxLength: 4000 }),
  },
  { additionalProperties: false },
);

export const AgentJobProgressRequest = Type.Object(
  {
    owner: AgentJobOwner,
    percent: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
    message: Type.Optional(Type.String({ maxLength: 500 })),
    logs: Type.Optional(Type.Array(AgentJobLogLine, { maxItems: 100 })),
  },
  { additionalProperties: false },
);
export type AgentJobProgressRequest = Static<typeof AgentJobProgressRequest>;

export const AgentJobLeaseResponse = Type.Object(
  { ok: Type.Boolean(), cancelRequested: Type.Boolean() },
  { additionalProperties: false },
);

export const AgentJobCompleteRequest = Type.Object(
  { owner: AgentJobOwner, result: Type.Optional(Type.Unknown()) },
  { additionalProperties: false },
);
export type AgentJobCompleteRequest = Static<typeof AgentJobCompleteRequest>;

export const AgentJobFailRequest = Type.Object(
  {
    owner: AgentJobOwner,
    error: Type.Object(
      {
        code: Type.String({ pattern: '^TRIPLANE_ERR_[A-Z0-9_]{1,60}$' }),
        message: Type.String({ maxLength: 2000 }),
        details: Type.Optional(Type.Unknown()),
      },
      { additionalProperties: false },
    ),
    retryable: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type AgentJobFailRequest = Static<typeof AgentJobFailRequest>;

export const AgentJobOwnerRequest = Type.Object({ owner: AgentJobOwner }, { additionalProperties: false });

/**
 * Give a claimed job back without counting the attempt: at once (the agent is stopping), or due
 * again in `waitMs` with `reason` as its message (it can't start yet, e.g. its environment has not
 * reached this server's assignment).
 */
export const AgentJobReleaseRequest = Type.Object(
  {
    owner: AgentJobOwner,
    waitMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 300_000 })),
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type AgentJobReleaseRequest = Static<typeof AgentJobReleaseRequest>;

export const AgentJobArtifactQuery = Type.Object({ owner: AgentJobOwner }, { additionalProperties: false });

/** What the control plane stored: the agent compares it with what it sent. */
export const AgentJobArtifactResponse = Type.Object(
  { ok: Type.Boolean(), bytes: Type.Integer({ minimum: 0 }), sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }) },
  { additionalProperties: false },
);
export type AgentJobArtifactResponse = Static<typeof AgentJobArtifactResponse>;

export const AgentJobOkResponse = Type.Object(
  { ok: Type.Boolean(), outcome: Type.Optional(Type.String()) },
  { additionalProperties: false },
);
