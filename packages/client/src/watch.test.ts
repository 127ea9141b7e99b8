import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { TriplaneClient } from './client.ts';
import { TriplaneApiError } from './errors.ts';
import type { JobEvent } from './watch.ts';

/**
 * A stand-in job API speaking the wire protocol of `GET /jobs/{id}` and
 * `GET /jobs/{id}/events` (the real routes are tested against the CLI in apps/triplane):
 * here the server misbehaves on purpose (drops streams, has no stream) to test the client.
 */
function job(state: string, progress: number, message = state) {
  return { id: 'job_0000000000000001', kind: 'test', lane: 'normal', state, progress, message, error: null };
}

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

test('non-2xx answers throw TriplaneApiError with the code; network failures are unreachable', async () => {
  const url = await serve((req, res) => {
    if (req.headers.authorization !== 'Bearer tpl_good') {
      return sendJson(res, 401, { error: { code: 'TRIPLANE_ERR_UNAUTHENTICATED', message: 'invalid token' } });
    }
    sendJson(res, 404, { error: { code: 'TRIPLANE_ERR_NOT_FOUND', message: 'site not found', details: { id: 'x' } } });
  });
  const bad = new TriplaneClient({ baseUrl: url, token: 'tpl_bad' });
  await assert.rejects(bad.sites.list(), (e: unknown) => e instanceof TriplaneApiError && e.status === 401);
  const good = new TriplaneClient({ baseUrl: url, token: 'tpl_good' });
  await assert.rejects(
    good.sites.get('site_0000000000000000'),
    (e: unknown) =>
      e instanceof TriplaneApiError &&
      e.status === 404 &&
      e.code === 'TRIPLANE_ERR_NOT_FOUND' &&
      (e.details as { id: string }).id === 'x',
  );
  const gone = new TriplaneClient({ baseUrl: 'http://127.0.0.1:1', token: 'tpl_good' });
  await assert.rejects(gone.sites.list(), (e: unknown) => e instanceof TriplaneApiError && e.unreachable && e.status === 0);
});

test('watchJob reconnects when the stream drops and resumes log lines after the last seen', async () => {
  let connections = 0;
  const afters: (string | null)[] = [];
  const url = await serve((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname.endsWith('/events')) {
      connections++;
      afters.push(u.searchParams.get('after'));
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (connections === 1) {
        res.write(`event: progress\ndata: ${JSON.stringify(job('running', 30, 'step 1'))}\n\n`);
        res.write(`event: log\ndata: ${JSON.stringify({ seq: 1, at: 'x', level: 'info', message: 'line 1' })}\n\n`);
        res.write('event: progress\ndata: {"id":"job_0000000000000001","sta'); // cut mid-event
        setTimeout(() => res.destroy(), 20);
        return;
      }
      res.write(`event: log\ndata: ${JSON.stringify({ seq: 2, at: 'x', level: 'info', message: 'line 2' })}\n\n`);
      res.write(`event: end\ndata: ${JSON.stringify(job('succeeded', 100, 'done'))}\n\n`);
      res.end();
      return;
    }
    sendJson(res, 200, connections === 0 ? job('queued', 0) : job('running', 30, 'step 1'));
  });
  const c = new TriplaneClient({ baseUrl: url, token: 'tpl_x' });
  const events: JobEvent[] = [];
  const w = c.watchJob('job_0000000000000001', (e) => events.push(e), { backoffBaseMs: 10, backoffCapMs: 20 });
  const final = await w.done;
  assert.equal(final.state, 'succeeded');
  assert.equal(connections, 2);
  assert.deepEqual(afters, [null, '1']);
  const logs = events.filter((e) => e.type === 'log').map((e) => (e.data as { message: string }).message);
  assert.deepEqual(logs, ['line 1', 'line 2']);
  // A log line never overwrites the job's message.
  assert.equal(events.find((e) => e.type === 'log')?.job.message, 'step 1');
});

test('without an event stream the client polls GET /jobs/{id} until the job ends', async () => {
  let polls = 0;
  const url = await serve((req, res) => {
    if ((req.url ?? '').includes('/events')) {
      return sendJson(res, 404, { error: { code: 'TRIPLANE_ERR_NOT_FOUND', message: 'no route' } });
    }
    polls++;
    sendJson(res, 200, polls < 3 ? job('running', polls * 30) : job('failed', 60, 'boom'));
  });
  const c = new TriplaneClient({ baseUrl: url });
  const seen: number[] = [];
  const final = await c.waitForJob('job_0000000000000001', { onProgress: (j) => seen.push(j.progress), pollIntervalMs: 10 });
  assert.equal(final.state, 'failed');
  assert.deepEqual(seen, [30, 60, 60]);
});

test('waitForJob times out with TRIPLANE_ERR_TIMEOUT; close() stops a watch', async () => {
  const url = await serve((req, res) => {
    if ((req.url ?? '').includes('/events')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': open\n\n');
      return; // never ends
    }
    sendJson(res, 200, job('running', 5));
  });
  const c = new TriplaneClient({ baseUrl: url });
  await assert.rejects(
    c.waitForJob('job_0000000000000001', { timeoutMs: 200 }),
    (e: unknown) => e instanceof TriplaneApiError && e.code === 'TRIPLANE_ERR_TIMEOUT',
  );
  const w = c.watchJob('job_0000000000000001', () => {});
  setTimeout(() => w.close(), 100);
  await assert.rejects(w.done, (e: unknown) => (e as Error).name === 'AbortError');
});
