import type { Command } from 'commander';

/**
 * `triplane edge --config FILE`: the edge plane standalone, from a YAML or JSON file.
 * SIGHUP reloads the file (a bad file is logged and the running config keeps serving);
 * SIGTERM/SIGINT close the listeners after in-flight requests.
 */
export function registerEdge(program: Command): void {
  program
    .command('edge')
    .description('run the edge (reverse proxy + full-page cache) from a config file; SIGHUP reloads it')
    .requiredOption('--config <file>', 'edge config, .yaml/.yml or .json (format: packages/edge/README.md)')
    .action(async (o: { config: string }) => {
      const [{ loadConfigFile, startEdge }, { parse }, { createLogger }] = await Promise.all([
        import('@triplane/edge'),
        import('yaml'),
        import('@triplane/kernel'),
      ]);
      const logger = createLogger('edge');
      const load = () => loadConfigFile(o.config, { yaml: (text: string) => parse(text) });
      const edge = await startEdge({ config: load(), logger });
      process.stdout.write(`edge: listening on http://${edge.address.address}:${edge.address.port}\n`);
      process.on('SIGHUP', () => {
        try {
          edge.reload(load());
          logger.info({ file: o.config }, 'config reloaded');
        } catch (e) {
          logger.error({ err: e, file: o.config }, 'config rejected; the previous config keeps serving');
        }
      });
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      await edge.close();
    });
}
