import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasEsi, parseEsi, resolveEsiSrc } from './esi.ts';

test('6.6.61 ESI parsing: include, remove, comment form', () => {
  const segs = parseEsi(
    'a<esi:include src="http://shop.example/page_cache/block/esi/x/" />b<esi:remove>gone</esi:remove>c<!--esi <p>in</p> -->d',
  );
  assert.deepEqual(segs, [
    { kind: 'text', text: 'a' },
    { kind: 'include', src: 'http://shop.example/page_cache/block/esi/x/' },
    { kind: 'text', text: 'b' },
    { kind: 'text', text: 'c' },
    { kind: 'text', text: ' <p>in</p> ' },
    { kind: 'text', text: 'd' },
  ]);
  assert.equal(hasEsi(Buffer.from('x <esi:include src="/a"/>')), true);
  assert.equal(hasEsi(Buffer.from('plain')), false);
});

test('6.6.61 ESI src resolution: absolute (https as http), root-relative, relative; other schemes refused', () => {
  assert.deepEqual(resolveEsiSrc('https://Shop.Example:443/f?x=1', 'a', '/p'), { host: 'shop.example', url: '/f?x=1' });
  assert.deepEqual(resolveEsiSrc('/frag', 'shop.example', '/p/q.html'), { host: 'shop.example', url: '/frag' });
  assert.deepEqual(resolveEsiSrc('frag', 'shop.example', '/p/q.html?z'), { host: 'shop.example', url: '/p/frag' });
  assert.equal(resolveEsiSrc('file:///etc/passwd', 'shop.example', '/'), undefined);
  assert.equal(resolveEsiSrc('//evil.example/x', 'shop.example', '/'), undefined);
  assert.equal(resolveEsiSrc('http://user@evil.example/x', 'shop.example', '/'), undefined);
});
