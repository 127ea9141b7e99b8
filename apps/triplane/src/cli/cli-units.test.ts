import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TriplaneApiError } from '@triplane/client';
import { parseListen, urlFor } from '../server/listen.ts';
import { parseSince } from './command.ts';
import { normalizeApiUrl } from './context.ts';
import { CliError, describeFailure, EXIT } from './exit.ts';

test('API errors map to the documented exit codes', () => {
  const code = (status: number, c = 'TRIPLANE_ERR_X') => describeFailure(new TriplaneApiError(status, c, 'm')).exitCode;
  assert.equal(code(401), EXIT.auth);
  assert.equal(code(403), EXIT.auth);
  assert.equal(code(404), EXIT.notFound);
  assert.equal(code(409), EXIT.conflict);
  assert.equal(code(400), EXIT.error);
  assert.equal(code(422), EXIT.error);
  assert.equal(code(500), EXIT.error);
  assert.equal(code(0, 'TRIPLANE_ERR_UNREACHABLE'), EXIT.unreachable);
  assert.equal(code(0, 'TRIPLANE_ERR_TIMEOUT'), EXIT.error);
  assert.equal(describeFailure(new CliError(EXIT.jobFailed, 'job failed')).exitCode, 6);
  assert.equal(describeFailure(new Error('boom')).exitCode, 1);
  assert.match(
    describeFailure(new TriplaneApiError(404, 'TRIPLANE_ERR_NOT_FOUND', 'site not found')).line,
    /site not found \(TRIPLANE_ERR_NOT_FOUND\)/,
  );
});

test('--listen parsing and the URL clients use', () => {
  assert.deepEqual(parseListen('127.0.0.1:8800'), { host: '127.0.0.1', port: 8800 });
  assert.deepEqual(parseListen('[::1]:9000'), { host: '::1', port: 9000 });
  assert.deepEqual(parseListen(':80'), { host: '0.0.0.0', port: 80 });
  assert.equal(urlFor(parseListen('0.0.0.0:8800')), 'http://127.0.0.1:8800');
  assert.equal(urlFor(parseListen('[::1]:9000')), 'http://[::1]:9000');
  for (const bad of ['8800', 'host:', 'a:b:c', 'x:99999']) assert.throws(() => parseListen(bad), CliError, bad);
});

test('API URLs are normalised; --since takes ages or timestamps', () => {
  assert.equal(normalizeApiUrl('http://h:8800/'), 'http://h:8800');
  assert.equal(normalizeApiUrl('http://h:8800/api/v1/'), 'http://h:8800');
  assert.equal(normalizeApiUrl('https://h/prefix'), 'https://h/prefix');
  assert.throws(() => normalizeApiUrl('ftp://h'), CliError);
  assert.throws(() => normalizeApiUrl('not a url'), CliError);
  const now = Date.parse('2026-01-02T00:00:00.000Z');
  assert.equal(parseSince('2h', now), '2026-01-01T22:00:00.000Z');
  assert.equal(parseSince('7d', now), '2025-12-26T00:00:00.000Z');
  assert.equal(parseSince('2026-01-01T00:00:00Z', now), '2026-01-01T00:00:00.000Z');
  assert.throws(() => parseSince('yesterday', now), CliError);
});
