/**
 * The file-manager / database-browser job child (started by the agent's INTERACTIVE job
 * runner, main.ts): one short-lived process per operation, at normal priority — a person is
 * waiting — but bounded (size caps in ops.ts/db.ts, a hard kill after FILE_JOB_KILL_MS by the
 * runner's spawnChild). A separate process because a hung NFS read or a misbehaving podman
 * must never stall the agent's reconcile loop, and the kill is then always possible.
 *
 * Reads one ChildInput JSON on stdin (jobs/runner.ts), writes NDJSON ChildEvents on stdout:
 * `result` then exit 0, or `error` (a stable TRIPLANE_ERR_* code, not retried) then exit 1.
 */
import { execFile } from 'node:child_process';
import { isTriplaneError, TriplaneError } from '@triplane/kernel';
import type { ChildEvent, ChildInput } from '../jobs/runner.ts';
import { listTables, podmanSqlRunner, readRows } from './db.ts';
import { listDir, makeDir, type Owner, readFileIn, removeIn, writeFileIn } from './ops.ts';
import { assertProcFd } from './safe-path.ts';
import type { FileJobTarget } from './target.ts';

function emit(ev: ChildEvent): void {
  process.stdout.write(`${JSON.stringify(ev)}\n`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function volumeRoot(volume: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'podman',
      ['volume', 'inspect', '--format', '{{.Mountpoint}}', volume],
      { timeout: 15_000, maxBuffer: 64 * 1024 },
      (err, stdout) => {
        const mp = String(stdout).trim();
        if (err || !mp.startsWith('/')) {
          reject(
            new TriplaneError('TRIPLANE_ERR_UNAVAILABLE', `the site's files volume ${volume} is not on this server (yet)`, {
              volume,
            }),
          );
        } else resolve(mp);
      },
    );
  });
}

const str = (v: unknown, name: string): string => {
  if (typeof v !== 'string') throw new TriplaneError('TRIPLANE_ERR_VALIDATION', `${name} must be a string`);
  return v;
};
const int = (v: unknown, dflt: number): number => (v === undefined ? dflt : Number(v));

/** Run one file-manager job; exported for the tests (which pass `root`/`sql` directly). */
export async function runFileJob(
  kind: string,
  p: Record<string, unknown>,
  n: FileJobTarget,
  o: { root?: string; sql?: ReturnType<typeof podmanSqlRunner> } = {},
): Promise<unknown> {
  const owner: Owner = n.owner;
  if (kind.startsWith('files.')) {
    await assertProcFd();
    const root = o.root ?? (await volumeRoot(n.volume));
    const path = str(p.path ?? '', 'path');
    switch (kind) {
      case 'files.list':
        return listDir(root, path);
      case 'files.read':
        return readFileIn(root, path);
      case 'files.write':
        return writeFileIn(root, path, Buffer.from(str(p.base64, 'base64'), 'base64'), {
          owner,
          createOnly: p.createOnly === true,
        });
      case 'files.delete':
        return removeIn(root, path, { recursive: p.recursive === true });
      case 'files.mkdir':
        return makeDir(root, path, { owner });
    }
  }
  if (kind.startsWith('db.')) {
    if (!o.sql && !n.dbContainer) {
      throw new TriplaneError(
        'TRIPLANE_ERR_UNPROCESSABLE',
        'this environment uses an external database: browse it with your database tools',
      );
    }
    const sql = o.sql ?? podmanSqlRunner(n.dbContainer as string, n.dbName);
    switch (kind) {
      case 'db.tables':
        return { tables: await listTables(sql, n.dbName) };
      case 'db.rows':
        return readRows(sql, n.dbName, str(p.table, 'table'), { offset: int(p.offset, 0), limit: int(p.limit, 50) });
    }
  }
  throw new TriplaneError('TRIPLANE_ERR_VALIDATION', `unknown file-manager job kind ${kind}`);
}

async function main(): Promise<number> {
  const input = JSON.parse(await readStdin()) as ChildInput;
  try {
    // The names come from the parent (files/target.ts): this child stays small and starts fast.
    const arg = process.argv[2];
    if (!input.environment || !arg)
      throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'the job names no environment of this server');
    const target = JSON.parse(arg) as FileJobTarget;
    const result = await runFileJob(input.job.kind, (input.job.params ?? {}) as Record<string, unknown>, target);
    emit({ type: 'result', result });
    return 0;
  } catch (e) {
    const te = isTriplaneError(e) ? e : new TriplaneError('TRIPLANE_ERR_INTERNAL', e instanceof Error ? e.message : String(e));
    emit({
      type: 'error',
      code: te.code,
      message: te.message.slice(0, 1900),
      retryable: false,
      ...(te.details !== undefined ? { details: te.details } : {}),
    });
    return 1;
  }
}

if (import.meta.main) {
  const code = await main();
  // stdout is a pipe: let it drain before exiting
  process.stdout.write('', () => process.exit(code));
}
