import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { TriplaneError } from '@triplane/kernel';
import { Id, type PurgeKind, PurgeRequest, PurgeResponse } from '@triplane/spec';
import type { FastifyInstance } from 'fastify';
import { audit } from '../../../audit/audit.ts';
import { recordPurge } from '../../../desired/purges.ts';
import { requireUser } from '../../auth/authorize.ts';
import { errorResponses } from '../../errors.ts';
import { requireEnvironmentRole } from '../sites/access.ts';

const EnvParams = Type.Object({ id: Id }, { additionalProperties: false });
const ABSOLUTE = /^(https?):\/\/([^/?#]*)(.*)$/i;
/** Values written to the audit entry (the purge row has all of them). */
const AUDIT_VALUES = 20;

/**
 * Normalise purge URLs: a path stays as given (every host of the environment); an absolute URL
 * becomes `scheme://host` (lower-cased, port dropped: the cache keys by host) + the path as
 * given. The path is not normalised on purpose: the cache keys the request-target as the client
 * sent it, so `/a/../b` and `/b` are different objects. Fragments never reach a server: dropped.
 * An absolute URL must name one of the environment's domains (422 otherwise).
 */
export function normalisePurgeUrls(urls: readonly string[], hostnames: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const raw of urls) {
    const u = raw.split('#', 1)[0] as string;
    if (u.startsWith('/')) {
      out.push(u);
      continue;
    }
    const m = ABSOLUTE.exec(u);
    const authority = m?.[2] ?? '';
    let host: string | undefined;
    if (m && authority && !authority.includes('@')) {
      try {
        host = new URL(`http://${authority}/`).hostname.toLowerCase();
      } catch {
        host = undefined;
      }
    }
    if (!m || !host) throw new TriplaneError('TRIPLANE_ERR_VALIDATION', `not a path or an http(s) URL: ${raw.slice(0, 100)}`);
    if (!hostnames.has(host)) {
      throw new TriplaneError('TRIPLANE_ERR_UNPROCESSABLE', `${host} is not a domain of this environment`, { host });
    }
    const rest = m[3] ?? '';
    const path = rest === '' ? '/' : rest.startsWith('?') ? `/${rest}` : rest;
    out.push(`${(m[1] as string).toLowerCase()}://${host}${path}`);
  }
  return [...new Set(out)];
}

/**
 * POST /environments/{id}/purge — see packages/spec/src/api/purge.ts. Developers and up on the
 * site; recorded in `edge_purges` with the audit entry in one transaction, which also bumps the
 * desired-state revision so long-polling edges get the new snapshot at once.
 */
export function registerPurgeRoute(app: FastifyInstance): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { store, clock } = r.ctx;
  r.post(
    '/environments/:id/purge',
    {
      schema: {
        tags: ['environments'],
        summary: "Purge the environment's cached pages on every edge, by URL, by tag or all",
        params: EnvParams,
        body: PurgeRequest,
        response: { 202: PurgeResponse, ...errorResponses(400, 401, 403, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const u = requireUser(req);
      const { env, site } = await requireEnvironmentRole(req, req.params.id, 'developer');
      const b = req.body;
      const out = await store.transaction(async (trx) => {
        const cur = await trx.selectFrom('environments').select(['id', 'status']).where('id', '=', env.id).executeTakeFirst();
        if (!cur) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'environment not found');
        if (cur.status === 'deleting') throw new TriplaneError('TRIPLANE_ERR_CONFLICT', 'the environment is being deleted');
        let kind: PurgeKind;
        let values: string[];
        if ('urls' in b) {
          const domains = await trx.selectFrom('domains').select('hostname').where('environment_id', '=', cur.id).execute();
          kind = 'url';
          values = normalisePurgeUrls(b.urls, new Set(domains.map((d) => d.hostname)));
        } else if ('tags' in b) {
          kind = 'tag';
          values = [...new Set(b.tags)];
        } else {
          kind = 'all';
          values = [];
        }
        const rec = await recordPurge(trx, { environmentId: cur.id, kind, values, actorId: u.userId, clock });
        await audit(trx, req, {
          action: 'environment.purge',
          orgId: site.org_id,
          targetType: 'environment',
          targetId: cur.id,
          details: { purgeId: rec.id, seq: rec.seq, kind, count: values.length, values: values.slice(0, AUDIT_VALUES) },
        });
        return { purgeId: rec.id, seq: rec.seq, environmentId: cur.id, kind, values, createdAt: rec.createdAt };
      });
      return reply.code(202).send(out);
    },
  );
}
