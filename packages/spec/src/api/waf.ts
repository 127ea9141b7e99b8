import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Id, Timestamp } from '../primitives.ts';

/**
 * WAF events: requests the edge's WAF refused (`blocked`) or logged rules for (`detected`),
 * batched by each edge and posted to the control plane, read per environment by the dashboard.
 *
 *   POST /api/v1/edge/waf-events            (edge servers) { events: [WafEventIn, …] } → 202 { accepted, ignored }
 *   GET  /api/v1/environments/{id}/waf/events?ruleId=&since=&until=&action=&limit=&cursor=
 *                                           (viewer and up on the site) → { items, nextCursor }, newest first
 *
 * Events carry what a person needs to triage (time, client, request line, matched rules and
 * their messages, the anomaly score) and never the matched data or the request body: those can
 * hold credentials, and stay in the edge's own WAF log files.
 */
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const WAF_EVENTS_MAX_BATCH = 500;
export const WAF_EVENT_MAX_RULES = 20;

export const WafEventAction = Type.Union([Type.Literal('blocked'), Type.Literal('detected')]);
export type WafEventAction = Static<typeof WafEventAction>;

export const WafEventRule = Type.Object(
  {
    id: Type.Integer({ minimum: 0, maximum: 99_999_999 }),
    msg: Type.String({ maxLength: 256 }),
  },
  { additionalProperties: false },
);
export type WafEventRule = Static<typeof WafEventRule>;

const eventFields = {
  time: Timestamp,
  requestId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9@_-]+$' }),
  clientIp: Type.String({ maxLength: 64 }),
  method: Type.String({ maxLength: 32 }),
  host: Type.String({ maxLength: 253 }),
  uri: Type.String({ maxLength: 2048 }),
  status: Type.Integer({ minimum: 0, maximum: 999 }),
  action: WafEventAction,
  anomalyScore: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
  outboundAnomalyScore: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
  rules: Type.Array(WafEventRule, { maxItems: WAF_EVENT_MAX_RULES }),
};

/** One event as an edge posts it. */
export const WafEventIn = Type.Object(
  { environmentId: Type.String({ minLength: 1, maxLength: 64 }), ...eventFields },
  { additionalProperties: false },
);
export type WafEventIn = Static<typeof WafEventIn>;

export const WafEventBatch = Type.Object(
  { events: Type.Array(WafEventIn, { minItems: 1, maxItems: WAF_EVENTS_MAX_BATCH }) },
  { additionalProperties: false },
);
export type WafEventBatch = Static<typeof WafEventBatch>;

export const WafEventBatchResult = Type.Object(
  {
    accepted: Type.Integer({ minimum: 0 }),
    ignored: Type.Integer({ minimum: 0, description: 'events of environments that do not exist (any more)' }),
  },
  { additionalProperties: false },
);
export type WafEventBatchResult = Static<typeof WafEventBatchResult>;

/** One stored event as the API shows it. */
export const WafEvent = Type.Object(
  { id: Type.String(), environmentId: Id, edgeServerId: Nullable(Type.String()), receivedAt: Timestamp, ...eventFields },
  { additionalProperties: false },
);
export type WafEvent = Static<typeof WafEvent>;

export const WafEventList = Type.Object(
  { items: Type.Array(WafEvent), nextCursor: Nullable(Type.String()) },
  { additionalProperties: false },
);
export type WafEventList = Static<typeof WafEventList>;

export const WafEventQuery = Type.Object(
  {
    ruleId: Type.Optional(Type.Integer({ minimum: 0, maximum: 99_999_999 })),
    action: Type.Optional(WafEventAction),
    since: Type.Optional(Timestamp),
    until: Type.Optional(Timestamp),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type WafEventQuery = Static<typeof WafEventQuery>;
