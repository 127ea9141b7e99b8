import type { Kysely } from 'kysely';

/**
 * `backups.source_spec`: what a backup needs to become a new site once its own site is gone
 * (`POST /backups/{id}/restore-as-site`): JSON `{kind, plan, php, resources, url}` — the site's
 * application and plan, the environment's PHP settings and limits, and the primary URL its data
 * was written for (`https://<primary domain>`, or null without a domain). Copied from the rows
 * when the agent records the backup (the site still exists then, even for a `pre-delete` one);
 * null for backups recorded before this migration.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('backups').addColumn('source_spec', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('backups').dropColumn('source_spec').execute();
}
