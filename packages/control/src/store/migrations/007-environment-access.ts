import type { Kysely } from 'kysely';

/**
 * Staging marks and password protection (issue 6).
 *
 * `environments.staging`: 1 for an environment created by `POST /sites/{id}/staging`; the edge
 * snapshot then asks edges for `X-Robots-Tag: noindex, nofollow` and a `Disallow: /` robots.txt
 * on its hosts (never for `production`).
 * `environments.protection`: JSON `{ "user", "hash" }` (hash: `scrypt:N:r:p:salt:key`, spec
 * edge-snapshot.ts BASIC_AUTH_HASH_PATTERN) or NULL; the plain password is never stored.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('environments')
    .addColumn('staging', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('environments').addColumn('protection', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('environments').dropColumn('protection').execute();
  await db.schema.alterTable('environments').dropColumn('staging').execute();
}
