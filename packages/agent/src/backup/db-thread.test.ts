/**
 * Lending the dump's server thread to the lane, against a real MariaDB (the triplane/mariadb site
 * image) and the host's real cgroups: a real mariadb-dump whose reader is paused holds its
 * connection open while the test looks at where the server thread is. Needs root, cgroup v1 with
 * the cpu controller and the image; skipped otherwise.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { DB_THREAD_GROUP, lendDumpThread, returnLentThreads } from './db-thread.ts';
import { threadLaneGroup } from './lowprio.ts';
import { nsenterArgs } from './nsenter.ts';
import { mariadbTestImage, startTestMariadb } from './testing.ts';

const image = existsSync('/sys/fs/cgroup/cpu/cpu.shares') ? mariadbTestImage() : undefined;
const name = `triplane-dbthread-${process.pid}-${randomBytes(3).toString('hex')}`;

function podman(args: string[], input?: string): string {
  const r = spawnSync('podman', args, { input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`podman ${args.slice(0, 4).join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const sql = async (q: string) => podman(['exec', '-i', name, 'mariadb', '--batch', '--skip-column-names'], q);

const groupTasks = () =>
  readFileSync(`${threadLaneGroup(DB_THREAD_GROUP)?.path}/tasks`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(Number);
const cpuGroupOf = (pid: number, tid: number) =>
  /^\d+:[^:]*\bcpu\b[^:]*:(.*)$/m.exec(readFileSync(`/proc/${pid}/task/${tid}/cgroup`, 'utf8'))?.[1];

/** A mariadb-dump whose output is read up to the first chunk and then left unread: its connection stays open. */
function stalledDump(pid: number) {
  const child = spawn('nsenter', nsenterArgs(pid, ['mariadb-dump', '--single-transaction', '--quick', 'wp']), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((res) => child.once('close', res));
  const firstChunk = new Promise<void>((res) =>
    child.stdout.once('data', () => {
      child.stdout.pause();
      res();
    }),
  );
  return { child, exited, firstChunk };
}

describe('the dump server thread in the low-priority lane', {
  skip: image ? false : 'needs root, cgroup v1 cpu and the triplane/mariadb image',
}, () => {
  let pid = 0;

  before(async () => {
    await startTestMariadb(image!, name);
    pid = Number(podman(['inspect', '--format', '{{.State.Pid}}', name]).trim());
    // ~16 MB of rows: far more than the socket and pipe buffers, so an unread dump stalls mid-table.
    await sql(
      `USE wp; CREATE TABLE t (id int PRIMARY KEY AUTO_INCREMENT, v varchar(2000));
       INSERT INTO t (v) SELECT REPEAT(MD5(seq), 60) FROM seq_1_to_8000;`,
    );
  });
  after(() => {
    returnLentThreads();
    if (image) spawnSync('podman', ['rm', '-f', '-t', '0', name]);
  });

  it('moves the connection thread into the idle group at nice 19 and back once the dump ends', async () => {
    const d = stalledDump(pid);
    await d.firstChunk;
    const lent = await lendDumpThread({ mariadbdPid: pid, sql });
    assert.ok(lent, 'the dump connection thread was found');
    assert.ok(groupTasks().includes(lent.tid), 'the thread is in the idle group');
    assert.equal(getPriority(lent.tid), 19);
    assert.equal(readFileSync(`${threadLaneGroup(DB_THREAD_GROUP)?.path}/cpu.idle`, 'utf8').trim(), '1');
    // the other mariadbd threads stay where they were
    const mainGroup = cpuGroupOf(pid, pid);
    assert.ok(mainGroup && mainGroup !== `/${DB_THREAD_GROUP}`, `mariadbd stays in ${mainGroup}`);

    d.child.stdout.resume();
    d.child.stdout.on('data', () => undefined);
    assert.equal(await d.exited, 0);
    lent.restore();
    assert.ok(!groupTasks().includes(lent.tid));
    // the thread may have ended or be waiting in the thread cache: if it is there, it is home
    if (existsSync(`/proc/${pid}/task/${lent.tid}`)) {
      assert.equal(cpuGroupOf(pid, lent.tid), mainGroup);
      assert.equal(getPriority(lent.tid), 0);
    }
  });

  it('a dump killed before its thread was given back: returnLentThreads() puts it back', async () => {
    const d = stalledDump(pid);
    await d.firstChunk;
    const lent = await lendDumpThread({ mariadbdPid: pid, sql });
    assert.ok(lent);
    d.child.kill('SIGKILL');
    await d.exited;
    // the server notices the closed socket and parks the thread in its cache: still idle-class
    assert.ok(groupTasks().includes(lent.tid));
    assert.ok(returnLentThreads() >= 1);
    assert.deepEqual(groupTasks(), []);
    assert.equal(cpuGroupOf(pid, lent.tid), cpuGroupOf(pid, pid));
    assert.equal(getPriority(lent.tid), 0);
    // and the next query through that thread runs normally
    assert.equal((await sql('SELECT COUNT(*) FROM wp.t;')).trim(), '8000');
  });

  it('finds nothing to lend when no dump is running', async () => {
    assert.equal(await lendDumpThread({ mariadbdPid: pid, sql }), null);
  });
});
