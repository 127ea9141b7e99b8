import type { Command } from 'commander';
import { intArg } from '../cli/command.ts';
import { usageError } from '../cli/exit.ts';
import { line, printJson } from '../cli/output.ts';

function storeFlags(o: { dataDir?: string; databaseUrl?: string }): { dataDir?: string; databaseUrl?: string } {
  const dataDir = o.dataDir ?? process.env.TRIPLANE_DATA_DIR;
  const databaseUrl = o.databaseUrl ?? process.env.TRIPLANE_DATABASE_URL;
  if (!dataDir && !databaseUrl) throw usageError('--data-dir DIR is required (or --database-url URL)');
  return { dataDir, databaseUrl };
}

/** The commands that run the platform on this machine: init, control, up. */
export function registerLocal(program: Command): void {
  program
    .command('init')
    .description('create or migrate the store and the owner organization and user; prints the owner token once')
    .option('--data-dir <dir>', 'data directory (SQLite store at DIR/triplane.db); default $TRIPLANE_DATA_DIR')
    .option('--database-url <url>', 'postgres://… to use PostgreSQL instead of SQLite')
    .option('--json', 'print {created, token, orgId, userId}')
    .action(async (o: { dataDir?: string; databaseUrl?: string; json?: boolean }) => {
      // Imported when used: management verbs never load the server (fastify, drivers, …).
      const { runInit } = await import('../server/init.ts');
      const r = await runInit(storeFlags(o));
      if (o.json) {
        printJson({ created: r.created, token: r.token, orgId: r.orgId, userId: r.userId });
        return;
      }
      if (r.migrationsApplied.length) line(`store: applied migrations ${r.migrationsApplied.join(', ')}`);
      if (r.created) {
        line(`created the owner organization (${r.orgId}) and owner user (${r.userId})`);
        line(`token: ${r.token}`);
        line('keep this token: it is shown once and grants full control');
      } else {
        line('already initialized: nothing created (the owner token was shown by the first init)');
      }
    });

  program
    .command('control')
    .description('run the control-plane API server with its job workers')
    .requiredOption('--listen <host:port>', 'address to listen on, e.g. 127.0.0.1:8800')
    .option('--data-dir <dir>', 'data directory; default $TRIPLANE_DATA_DIR')
    .option('--database-url <url>', 'postgres://… to use PostgreSQL instead of SQLite')
    .option('--workers <n>', 'processes in the interactive/normal job worker pool (0: none)', intArg('--workers', 0, 64), 1)
    .option(
      '--backup-window <hh:mm-hh:mm>',
      'daily backup window, UTC (each environment gets a stable slot in it)',
      '02:00-05:00',
    )
    .option('--backup-keep-daily <n>', 'daily backups kept per environment', intArg('--backup-keep-daily', 1, 365), 7)
    .option('--backup-keep-weekly <n>', 'weekly backups kept', intArg('--backup-keep-weekly', 0, 520), 0)
    .option('--backup-keep-monthly <n>', 'monthly backups kept', intArg('--backup-keep-monthly', 0, 240), 0)
    .option('--no-backup-schedule', 'take no scheduled backups (manual ones still work)')
    .action(
      async (o: {
        dataDir?: string;
        databaseUrl?: string;
        listen: string;
        workers: number;
        backupWindow: string;
        backupKeepDaily: number;
        backupKeepWeekly: number;
        backupKeepMonthly: number;
        backupSchedule: boolean;
      }) => {
        const { runControl } = await import('../server/control.ts');
        await runControl({
          ...storeFlags(o),
          listen: o.listen,
          workers: o.workers,
          backup: {
            window: o.backupWindow,
            keepDaily: o.backupKeepDaily,
            keepWeekly: o.backupKeepWeekly,
            keepMonthly: o.backupKeepMonthly,
            schedule: o.backupSchedule,
          },
        });
      },
    );

  program
    .command('up')
    .description(
      'single-node mode: init if needed, run the control plane, the edge and (as root with Podman) the agent and a demo WordPress site',
    )
    .option('--data-dir <dir>', 'data directory; default $TRIPLANE_DATA_DIR or ~/.local/share/triplane')
    .option('--listen <host:port>', 'API address', '127.0.0.1:8800')
    .option('--database-url <url>', 'postgres://… to use PostgreSQL instead of SQLite')
    .option('--workers <n>', 'processes in the interactive/normal job worker pool', intArg('--workers', 0, 64))
    .option('--no-agent', 'do not run this machine as an app server (no agent, no demo site)')
    .option('--edge-listen <host:port>', "the edge's HTTP listener (default 127.0.0.1:80 as root when free, else :8080)")
    .option(
      '--edge-listen-https <host:port>',
      "the edge's HTTPS listener, platform CA certificates (default 127.0.0.1:443 as root when free, else :8443)",
    )
    .option('--no-edge-listen-https', 'no HTTPS listener on the edge')
    .option('--no-edge', 'do not run the edge')
    .action(
      async (o: {
        dataDir?: string;
        databaseUrl?: string;
        listen: string;
        workers?: number;
        agent: boolean;
        edge: boolean;
        edgeListen: string;
        edgeListenHttps: string | false;
      }) => {
        const { runUp } = await import('../server/up.ts');
        await runUp({
          dataDir: o.dataDir,
          databaseUrl: o.databaseUrl ?? process.env.TRIPLANE_DATABASE_URL,
          listen: o.listen,
          workers: o.workers,
          agent: o.agent,
          edge: o.edge,
          edgeListen: o.edgeListen,
          edgeListenHttps: o.edgeListenHttps,
        });
      },
    );
}
