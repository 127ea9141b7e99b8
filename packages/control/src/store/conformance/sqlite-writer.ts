/**
 * Worker thread for the SQLite concurrency test: opens its own store handle on the given
 * file and runs `n` read-modify-write transactions (read the revision, write it + 1, append
 * an audit row). With BEGIN IMMEDIATE every transaction takes the write lock up front, so
 * none can fail with SQLITE_BUSY on lock upgrade and no increment is lost.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { newSortableId } from '@triplane/kernel';
import { openStore } from '../store.ts';
import { readModifyWrite } from './writer-step.ts';

const { path, n, tag } = workerData as { path: string; n: number; tag: string };
const store = openStore({ sqlitePath: path });
const errors: string[] = [];
let done = 0;
for (let i = 0; i < n; i++) {
  try {
    await readModifyWrite(store, tag, newSortableId('aud'));
    done++;
  } catch (e) {
    errors.push(`${(e as { code?: string }).code ?? ''} ${(e as Error).message}`);
  }
}
await store.close();
parentPort?.postMessage({ done, errors });
