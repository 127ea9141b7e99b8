import type { Migration, MigrationProvider } from 'kysely/migration';
import * as m001 from './001-initial.ts';
import * as m002 from './002-install-intent.ts';
import * as m003 from './003-edge-purges.ts';
import * as m004 from './004-waf-events.ts';
import * as m005 from './005-backups.ts';
import * as m006 from './006-metrics.ts';
import * as m007 from './007-environment-access.ts';
import * as m008 from './008-environment-logs.ts';
import * as m009 from './009-environment-log-source.ts';
import * as m010 from './010-backup-source.ts';

/**
 * Versioned migrations, in order. Add a new file `NNN-name.ts` and list it here;
 * never edit a migration that has shipped.
 */
export const MIGRATIONS: Record<string, Migration> = {
  '001-initial': m001,
  '002-install-intent': m002,
  '003-edge-purges': m003,
  '004-waf-events': m004,
  '005-backups': m005,
  '006-metrics': m006,
  '007-environment-access': m007,
  '008-environment-logs': m008,
  '009-environment-log-source': m009,
  '010-backup-source': m010,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
