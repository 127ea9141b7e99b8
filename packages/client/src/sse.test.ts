import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type SseEvent, SseParser } from './sse.ts';

function parse(chunks: string[]): SseEvent[] {
  const out: SseEvent[] = [];
  const p = new SseParser((e) => out.push(e));
  for (const c of chunks) p.push(c);
  p.end();
  return out;
}

test('events with names, multi-line data, ids and comments', () => {
  const evs = parse([': hello\n\nevent: progress\ndata: {"a":1}\n\n', 'data: one\ndata: two\nid: 7\n\n']);
  assert.deepEqual(
    evs.map((e) => [e.event, e.data, e.id]),
    [
      ['progress', '{"a":1}', undefined],
      ['message', 'one\ntwo', '7'],
    ],
  );
});

test('chunks split anywhere, including inside CRLF, give the same events', () => {
  const text = 'event: log\r\ndata: {"seq":1}\r\n\r\nevent: end\r\ndata: {"state":"succeeded"}\r\n\r\n';
  const whole = parse([text]);
  for (let i = 1; i < text.length; i++) {
    assert.deepEqual(parse([text.slice(0, i), text.slice(i)]), whole, `split at ${i}`);
  }
  assert.equal(whole.length, 2);
  assert.equal(whole[1]?.event, 'end');
});

test('an unterminated event at the end of the stream is dropped; retry is read', () => {
  const evs = parse(['retry: 1500\nevent: a\ndata: x\n\nevent: b\ndata: cut']);
  assert.equal(evs.length, 1);
  assert.equal(evs[0]?.retry, 1500);
});

test('a field without a colon and a value without a space', () => {
  const evs = parse(['data\n\ndata:x\n\n']);
  assert.deepEqual(
    evs.map((e) => e.data),
    ['', 'x'],
  );
});
