/**
 * An edge worker process (cluster.ts): runs the whole edge on the config the primary sends, reloads
 * and purges on its messages, and on `shutdown` closes its listeners after in-flight requests.
 */
import { createLogger } from '@triplane/kernel';
import { AggregatorRegistry } from 'prom-client';
import type { FromWorker, ToWorker } from './cluster.ts';
import { drainLogLines } from './logs-push.ts';
import { drainEnvironmentDeltas } from './metrics-push.ts';
import { type EdgeHandle, startEdge } from './server.ts';
import type { SqliteCollectionStore } from './waf-collections.ts';
import { useWafCollectionStore } from './waf-compile.ts';

const log = createLogger('edge');
let edge: EdgeHandle | undefined;
let collections: SqliteCollectionStore | undefined;
const send = (m: FromWorker) => process.send?.(m);

process.on('message', async (m: ToWorker) => {
  try {
    switch (m.t) {
      case 'start':
        if (m.wafCollections) {
          // the host's shared WAF collections (IP, GLOBAL…): set before the engines are compiled
          try {
            const { SqliteCollectionStore } = await import('./waf-collections.ts');
            collections = SqliteCollectionStore.open(m.wafCollections, { logger: log });
            useWafCollectionStore(collections);
          } catch (e) {
            log.error({ err: e }, 'WAF collections: cannot open the shared store; this worker keeps its own in memory');
          }
        }
        edge = await startEdge({
          config: m.config,
          logger: log,
          reusePort: true,
          onPurgeRequest: (site, cmd) => send({ t: 'purged', site, commands: [cmd] }),
          onWafEvent: (event) => send({ t: 'waf-event', event }),
          shipLogs: m.shipLogs === true,
          onLogsReady: () => send({ t: 'logs-ready' }),
        });
        // constructing one installs prom-client's worker-side listener for the primary's metric requests
        new AggregatorRegistry();
        AggregatorRegistry.setRegistries([edge.metrics.registry]);
        send({ t: 'ready', address: edge.address, httpsAddress: edge.httpsAddress });
        return;
      case 'reload':
        try {
          edge?.reload(m.config);
        } catch (e) {
          send({ t: 'reload-failed', message: (e as Error).message });
        }
        return;
      case 'purge':
        edge?.purge(m.site, m.commands);
        return;
      case 'shutdown':
        drain();
        return;
      case 'metrics-drain':
        send({ t: 'metrics', id: m.id, deltas: edge ? drainEnvironmentDeltas(edge) : [] });
        return;
      case 'logs-drain':
        send({ t: 'logs', id: m.id, logs: edge ? drainLogLines(edge) : { lines: [], dropped: 0 } });
        return;
    }
  } catch (e) {
    if (m.t === 'start') {
      send({ t: 'failed', message: (e as Error).message });
      return;
    }
    log.error({ err: e }, 'edge worker fault');
  }
});

// SIGTERM/SIGINT (Ctrl-C reaches the whole process group): drain and exit; the primary respawns a
// worker that exits while the edge is not closing.
let draining = false;
const drain = () => {
  if (draining) return;
  draining = true;
  void (edge?.close() ?? Promise.resolve()).finally(() => {
    collections?.close();
    process.exit(0);
  });
};
process.once('SIGINT', drain);
process.once('SIGTERM', drain);
// The primary going away (crash, SIGKILL) must not leave orphaned workers holding connections.
process.on('disconnect', drain);
