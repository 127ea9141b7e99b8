import { type Static, Type } from '@sinclair/typebox';
import { Id, Timestamp } from '../primitives.ts';

/**
 * `POST /api/v1/environments/{id}/purge`: drop cached pages of an environment on every edge.
 * Exactly one of:
 *   { "urls": ["/shop/?page=2", "https://shop.example.com/cart"] }  paths (every host of the
 *        environment, http and https) or absolute URLs on one of the environment's domains
 *   { "tags": ["cat_p_42"] }   objects whose X-Magento-Tags / Surrogate-Key / Cache-Tag name a tag
 *   { "all": true }            everything cached for the environment's hosts
 * → 202 `{ purgeId, seq, environmentId, kind, values, createdAt }`. The purge is recorded (the
 * `edge_purges` table) and reaches edges through the edge snapshot (`purges`, `purgeSeq`), so
 * an edge that was briefly disconnected applies it when it reconnects.
 *
 * Limits (why: a purge is carried in every edge snapshot for up to a day): 100 values per
 * request, URLs up to 2,048 characters of printable ASCII (percent-encode the rest), tags up to
 * 256 characters without commas or whitespace.
 */
export const PURGE_MAX_VALUES = 100;
export const PURGE_MAX_URL_LENGTH = 2048;
export const PURGE_MAX_TAG_LENGTH = 256;

export const PurgeUrl = Type.String({
  minLength: 1,
  maxLength: PURGE_MAX_URL_LENGTH,
  pattern: '^(/|[hH][tT][tT][pP][sS]?://)[!-~]*$',
  description: 'a path with its query (`/p?x=1`), or an absolute http(s) URL on one of the environment’s domains',
});

export const PurgeTag = Type.String({
  minLength: 1,
  maxLength: PURGE_MAX_TAG_LENGTH,
  pattern: '^[!-+\\--~]+$',
  description: 'a cache tag (printable ASCII, no comma or whitespace)',
});

export const PurgeRequest = Type.Union(
  [
    Type.Object(
      { urls: Type.Array(PurgeUrl, { minItems: 1, maxItems: PURGE_MAX_VALUES }) },
      { additionalProperties: false, title: 'PurgeByUrl' },
    ),
    Type.Object(
      { tags: Type.Array(PurgeTag, { minItems: 1, maxItems: PURGE_MAX_VALUES }) },
      { additionalProperties: false, title: 'PurgeByTag' },
    ),
    Type.Object({ all: Type.Literal(true) }, { additionalProperties: false, title: 'PurgeAll' }),
  ],
  { description: 'exactly one of `urls`, `tags` or `all: true`' },
);
export type PurgeRequest = Static<typeof PurgeRequest>;

export const PurgeKind = Type.Union([Type.Literal('url'), Type.Literal('tag'), Type.Literal('all')]);
export type PurgeKind = Static<typeof PurgeKind>;

export const PurgeResponse = Type.Object(
  {
    purgeId: Id,
    seq: Type.Integer({ minimum: 1, description: 'position in the platform-wide purge sequence (edge snapshot `purgeSeq`)' }),
    environmentId: Id,
    kind: PurgeKind,
    values: Type.Array(Type.String(), { description: 'urls or tags as recorded; empty for `all`' }),
    createdAt: Timestamp,
  },
  { additionalProperties: false },
);
export type PurgeResponse = Static<typeof PurgeResponse>;
