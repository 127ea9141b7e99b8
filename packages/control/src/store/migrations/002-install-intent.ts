import type { Kysely } from 'kysely';

/**
 * `environments.install_intent`: the one-time WordPress install intent (JSON InstallIntent of
 * @triplane/spec, with the admin password) handed to the agent in the assignment; set to NULL as
 * soon as an agent reports the environment installed.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('environments').addColumn('install_intent', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('environments').dropColumn('install_intent').execute();
}
