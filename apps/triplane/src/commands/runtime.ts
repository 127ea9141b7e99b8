import type { Command } from 'commander';

/**
 * Commands that act on this machine's container runtime and run the site agent:
 * `host prepare`, `images build`, `agent`. Imported when used, like the other local commands.
 */
export function registerRuntime(program: Command): void {
  const host = program.command('host').description('prepare this machine to run site pods');
  host
    .command('prepare')
    .description('install Podman and friends, write containers.conf/storage.conf, uid ranges (idempotent; root)')
    .option('--dry-run', 'print what would change, change nothing')
    .action(async (o: { dryRun?: boolean }) => {
      const { hostPrepareMain } = await import('@triplane/runtime/host/cli');
      process.exitCode = await hostPrepareMain(o.dryRun ? ['--dry-run'] : []);
    });

  const images = program.command('images').description('site images built from Debian packages (no registry)');
  images
    .command('build')
    .description('build (or confirm, by content hash) the rootfs, base, php, web, mariadb and redis images')
    .option('--verbose', 'show build output')
    .option('--json', 'print the tags as JSON')
    .action(async (o: { verbose?: boolean; json?: boolean }) => {
      const { imagesBuildMain } = await import('@triplane/runtime/images/cli');
      process.exitCode = await imagesBuildMain([...(o.verbose ? ['--verbose'] : []), ...(o.json ? ['--json'] : [])]);
    });

  program
    .command('agent')
    .description('run the app-server agent: join, watch the assignment, reconcile pods, heal (root)')
    .allowUnknownOption()
    .helpOption(false)
    .argument('[args...]', '--api URL --join-token T --state-dir DIR [--address A] [--web-host-ip IP] [--interval-ms N]')
    .action(async (args: string[]) => {
      const { parseAgentArgs, runAgentUntilSignal } = await import('@triplane/agent/main');
      await runAgentUntilSignal(parseAgentArgs(args));
    });
}
