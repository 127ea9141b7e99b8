import type { Command } from 'commander';
import { usageError } from '../cli/exit.ts';

interface EdgeFlags {
  config?: string;
  api?: string;
  joinToken?: string;
  stateDir: string;
  listen: string;
}

/**
 * `triplane edge`: the edge plane, from one of two config providers feeding the same
 * validate → compile → atomic swap path:
 *   --config FILE   a YAML or JSON file; SIGHUP reloads it (a bad file is logged, the old config keeps serving)
 *   --api URL       the control plane's snapshot, watched by long-poll; the last accepted snapshot is
 *                   kept in --state-dir so the edge starts and serves while the control plane is down
 * SIGTERM/SIGINT close the listeners after in-flight requests.
 */
export function registerEdge(program: Command): void {
  program
    .command('edge')
    .description('run the edge (reverse proxy + full-page cache) from a config file or the control plane')
    .option('--config <file>', 'edge config, .yaml/.yml or .json (format: docs/edge.md); SIGHUP reloads it')
    .option('--api <url>', 'control plane URL: follow its edge snapshot instead of a file')
    .option('--join-token <token>', 'one-time token from `triplane server create --role edge` (first start only)')
    .option('--state-dir <dir>', 'where the edge keeps its identity and last good snapshot', '/var/lib/triplane/edge')
    .option('--listen <host:port>', 'HTTP listener with --api', '127.0.0.1:8080')
    .action(async (o: EdgeFlags) => {
      if (!o.config === !o.api) throw usageError('give exactly one of --config FILE or --api URL');
      const [{ loadConfigFile, startEdge, EdgeControlLink }, { parse }, { createLogger }] = await Promise.all([
        import('@triplane/edge'),
        import('yaml'),
        import('@triplane/kernel'),
      ]);
      const logger = createLogger('edge');
      let stopLink = async () => {};
      let edge: Awaited<ReturnType<typeof startEdge>>;
      if (o.config) {
        const file = o.config;
        const load = () => loadConfigFile(file, { yaml: (text: string) => parse(text) });
        edge = await startEdge({ config: load(), logger });
        process.on('SIGHUP', () => {
          try {
            edge.reload(load());
            logger.info({ file }, 'config reloaded');
          } catch (e) {
            logger.error({ err: e, file }, 'config rejected; the previous config keeps serving');
          }
        });
      } else {
        const base = { listen: { http: o.listen } };
        const link = new EdgeControlLink({
          apiUrl: o.api as string,
          stateDir: o.stateDir,
          joinToken: o.joinToken ?? process.env.TRIPLANE_JOIN_TOKEN,
          base,
          logger,
        });
        edge = await startEdge({ config: (await link.loadPersisted()) ?? { ...base, sites: [] }, logger });
        await link.connect();
        link.run((cfg) => edge.reload(cfg));
        stopLink = () => link.stop();
      }
      process.stdout.write(`edge: listening on http://${edge.address.address}:${edge.address.port}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      await stopLink();
      await edge.close();
    });
}
