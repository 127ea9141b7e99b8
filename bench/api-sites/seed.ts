/**
 * Seed N sites straight into the store (no API, no jobs): each with a production and a
 * staging environment and two domains on production. created_at steps by 1 ms so list
 * order and cursors behave as they do for sites made over time.
 */

import type { Store } from '@triplane/control/store/store';
import { newId } from '@triplane/kernel';
import { DEFAULT_PHP, DEFAULT_RESOURCES } from '@triplane/spec';

export async function seedSites(store: Store, orgId: string, n: number): Promise<void> {
  const base = Date.parse('2026-01-01T00:00:00.000Z');
  const BATCH = 100;
  for (let start = 0; start < n; start += BATCH) {
    await store.transaction(async (trx) => {
      const sites = [];
      const envs = [];
      const domains = [];
      for (let i = start; i < Math.min(n, start + BATCH); i++) {
        const at = new Date(base + i).toISOString();
        const siteId = newId('site');
        const name = `bench-${String(i).padStart(5, '0')}`;
        sites.push({
          id: siteId,
          org_id: orgId,
          name,
          kind: i % 4 === 0 ? 'woocommerce' : 'wordpress',
          plan: i % 10 === 0 ? 'pro' : 'essentials',
          status: 'active',
          created_at: at,
          updated_at: at,
        });
        for (const envName of ['production', 'staging']) {
          const envId = newId('env');
          envs.push({
            id: envId,
            site_id: siteId,
            name: envName,
            desired_state: 'running',
            status: 'running',
            status_message: null,
            generation: 1,
            php: JSON.stringify(DEFAULT_PHP),
            resources: JSON.stringify(DEFAULT_RESOURCES),
            replicas: 1,
            server_ids: '[]',
            external_database: null,
            runtime: null,
            observed: null,
            created_at: at,
            updated_at: at,
          });
          if (envName === 'production') {
            for (const [j, host] of [`${name}.example.test`, `www.${name}.example.test`].entries()) {
              domains.push({
                id: newId('dom'),
                environment_id: envId,
                hostname: host,
                is_primary: j === 0 ? 1 : 0,
                redirect_to_primary: 1,
                created_at: at,
              });
            }
          }
        }
      }
      await trx.insertInto('sites').values(sites).execute();
      await trx.insertInto('environments').values(envs).execute();
      await trx.insertInto('domains').values(domains).execute();
    });
  }
}
