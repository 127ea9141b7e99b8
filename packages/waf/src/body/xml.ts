/**
 * A small non-validating XML reader for request bodies: checks well-formedness (tags balance,
 * one root) and collects the text content ModSecurity exposes as `XML:/*` (the string value of
 * the root element) and attribute values (`XML://@*`). DTDs are skipped, never fetched.
 */
export interface XmlResult {
  text: string;
  attributes: string[];
  error: string | undefined;
}

const ENT: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decode(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);/g, (m, e: string) => {
    if (e.startsWith('#x')) return cp(Number.parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return cp(Number.parseInt(e.slice(1), 10));
    return ENT[e] ?? m;
  });
}

function cp(n: number): string {
  // XML character references are code points; bodies are bytes, so write UTF-8
  return Buffer.from(String.fromCodePoint(n), 'utf8').toString('latin1');
}

export function parseXmlBody(s: string): XmlResult {
  const stack: string[] = [];
  let text = '';
  const attributes: string[] = [];
  let i = 0;
  let roots = 0;
  const n = s.length;
  const fail = (why: string): XmlResult => ({ text, attributes, error: `XML parser error: ${why}` });
  while (i < n) {
    const lt = s.indexOf('<', i);
    const chunk = s.slice(i, lt < 0 ? n : lt);
    if (stack.length > 0) text += decode(chunk);
    else if (chunk.trim() !== '') return fail('content outside the root element');
    if (lt < 0) break;
    if (s.startsWith('<!--', lt)) {
      const e = s.indexOf('-->', lt + 4);
      if (e < 0) return fail('unterminated comment');
      i = e + 3;
    } else if (s.startsWith('<![CDATA[', lt)) {
      const e = s.indexOf(']]>', lt + 9);
      if (e < 0) return fail('unterminated CDATA');
      if (stack.length === 0) return fail('CDATA outside the root element');
      text += s.slice(lt + 9, e);
      i = e + 3;
    } else if (s.startsWith('<?', lt)) {
      const e = s.indexOf('?>', lt + 2);
      if (e < 0) return fail('unterminated processing instruction');
      i = e + 2;
    } else if (s.startsWith('<!', lt)) {
      // DOCTYPE, possibly with an internal subset
      let depth = 0;
      let j = lt + 2;
      for (; j < n; j++) {
        if (s[j] === '[') depth++;
        else if (s[j] === ']') depth--;
        else if (s[j] === '>' && depth <= 0) break;
      }
      if (j >= n) return fail('unterminated declaration');
      i = j + 1;
    } else if (s[lt + 1] === '/') {
      const e = s.indexOf('>', lt);
      if (e < 0) return fail('unterminated end tag');
      const name = s.slice(lt + 2, e).trim();
      if (stack.pop() !== name) return fail(`mismatched end tag </${name}>`);
      i = e + 1;
    } else {
      const m = /^<([A-Za-z_:][-\w.:]*)((?:\s+[A-Za-z_:][-\w.:]*\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/.exec(
        s.slice(lt, lt + 65536),
      );
      if (!m) return fail('malformed start tag');
      if (stack.length === 0) {
        roots++;
        if (roots > 1) return fail('more than one root element');
      }
      for (const a of m[2]!.matchAll(/=\s*(?:"([^"]*)"|'([^']*)')/g)) attributes.push(decode(a[1] ?? a[2] ?? ''));
      if (m[3] !== '/') stack.push(m[1]!);
      i = lt + m[0].length;
    }
  }
  if (stack.length > 0) return fail(`unclosed element <${stack[stack.length - 1]}>`);
  if (roots === 0) return fail('no root element');
  return { text, attributes, error: undefined };
}
