/**
 * The `--server app` mode of the benchmark: buildApp + listen on 127.0.0.1 in its own
 * process (what `triplane control --workers 0` does, minus signal handling). Prints one
 * JSON line `{"url": …}` when ready.
 * Usage: node bench/api-sites/server.ts <data-dir>
 */
import { buildApp } from '@triplane/control/api/app';
import { openStore } from '@triplane/control/store/store';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: server.ts <data-dir>');
const store = openStore({ dataDir });
await store.migrate();
const app = await buildApp({ store });
await app.listen({ host: '127.0.0.1', port: 0 });
const a = app.server.address();
const port = typeof a === 'object' && a ? a.port : 0;
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, async () => {
    await app.close();
    await store.close();
    process.exit(0);
  });
}
