import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EdgeSnapshot, SnapshotPurge } from '@triplane/spec';
import { commandsFor, planPurges } from './purge.ts';

const AT = '2030-01-01T00:00:00.000Z';

function snap(purges: SnapshotPurge[], purgeSeq = purges.at(-1)?.seq ?? 0): EdgeSnapshot {
  const route = (hostname: string, environmentId: string, redirectTo: string | null = null) => ({
    hostname,
    environmentId,
    siteId: 'site_a',
    primary: redirectTo === null,
    redirectTo,
  });
  return {
    apiVersion: 'triplane/v1',
    kind: 'EdgeSnapshot',
    revision: 9,
    generatedAt: AT,
    sites: [],
    routes: [
      route('a.test', 'env_A'),
      route('www.a.test', 'env_A', 'a.test'),
      route('a2.test', 'env_A'),
      route('b.test', 'env_B'),
    ],
    upstreams: [],
    certificates: [],
    policies: [],
    purges,
    purgeSeq,
  };
}
const p = (seq: number, environmentId: string, kind: SnapshotPurge['kind'], values: string[] = []): SnapshotPurge => ({
  seq,
  environmentId,
  kind,
  values,
  createdAt: AT,
});

test('commandsFor: paths on every host, absolute URLs on their host only, tags, all = every host', () => {
  assert.deepEqual(
    commandsFor({ kind: 'url', values: ['/p?x=1', 'https://a2.test/q', 'http://other.test/z', 'http://a.test'] }, [
      'a.test',
      'a2.test',
    ]),
    [
      { kind: 'url', host: 'a.test', url: '/p?x=1' },
      { kind: 'url', host: 'a2.test', url: '/p?x=1' },
      { kind: 'url', host: 'a2.test', url: '/q' },
      { kind: 'url', host: 'a.test', url: '/' },
    ],
  );
  assert.deepEqual(commandsFor({ kind: 'tag', values: ['cat_p_42', 'x'] }, ['a.test']), [
    { kind: 'tags', tags: ['cat_p_42', 'x'] },
  ]);
  assert.deepEqual(commandsFor({ kind: 'all', values: [] }, ['a.test', 'a2.test']), [
    { kind: 'host', host: 'a.test' },
    { kind: 'host', host: 'a2.test' },
  ]);
  assert.deepEqual(commandsFor({ kind: 'tag', values: [] }, ['a.test']), []);
});

test('planPurges: the first snapshot after start is a baseline, nothing replayed', () => {
  const s = snap([p(1, 'env_A', 'all'), p(2, 'env_B', 'tag', ['t'])]);
  assert.deepEqual(planPurges(s, undefined), { action: 'baseline', seq: 2 });
  assert.deepEqual(planPurges(snap([]), undefined), { action: 'baseline', seq: 0 });
});

test('planPurges: applies every purge above the last seq, in order, skipping unknown environments', () => {
  const s = snap([
    p(4, 'env_A', 'all'),
    p(5, 'env_A', 'url', ['/x']),
    p(6, 'env_gone', 'all'),
    p(7, 'env_B', 'tag', ['cat_p_42']),
  ]);
  assert.deepEqual(planPurges(s, 4), {
    action: 'apply',
    seq: 7,
    purges: [
      {
        siteName: 'env-a',
        seq: 5,
        commands: [
          { kind: 'url', host: 'a.test', url: '/x' },
          { kind: 'url', host: 'a2.test', url: '/x' },
        ],
      },
      { siteName: 'env-b', seq: 7, commands: [{ kind: 'tags', tags: ['cat_p_42'] }] },
    ],
  });
  assert.deepEqual(planPurges(s, 7), { action: 'none', seq: 7 });
});

test('planPurges: a gap (purges pruned before this edge saw them) flushes every site', () => {
  const s = snap([p(10, 'env_A', 'url', ['/x']), p(11, 'env_A', 'url', ['/y'])]);
  assert.deepEqual(planPurges(s, 8), {
    action: 'flush',
    seq: 11,
    purges: [
      {
        siteName: 'env-a',
        seq: 11,
        commands: [
          { kind: 'host', host: 'a.test' },
          { kind: 'host', host: 'a2.test' },
        ],
      },
      { siteName: 'env-b', seq: 11, commands: [{ kind: 'host', host: 'b.test' }] },
    ],
  });
  assert.equal(planPurges(s, 9).action, 'apply', 'seq 10 follows 9: no gap');
});

test('planPurges: a control plane whose purge seq went backwards (a new store) is a new baseline', () => {
  assert.deepEqual(planPurges(snap([p(1, 'env_A', 'all')]), 50), { action: 'baseline', seq: 1 });
});

test('planPurges: a snapshot without purges (an older control plane) changes nothing', () => {
  const s = snap([]);
  delete s.purges;
  delete s.purgeSeq;
  assert.deepEqual(planPurges(s, 0), { action: 'none', seq: 0 });
});
