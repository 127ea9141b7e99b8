/**
 * A small deterministic YAML emitter for the Pod documents we generate (maps, lists,
 * strings, numbers, booleans). Strings are plain only when that is unambiguous, otherwise
 * JSON-quoted (JSON strings are valid YAML double-quoted scalars). Key order is the
 * insertion order of the objects, so output is stable for golden tests. Pure.
 */
export type YamlValue = string | number | boolean | null | YamlValue[] | { [k: string]: YamlValue | undefined };

const PLAIN = /^[A-Za-z0-9_./-]+$/;
const RESERVED = /^(?:true|false|yes|no|on|off|y|n|null|~)$/i;
const NUMERIC = /^[-+]?(?:\d[\d_]*)?(?:\.\d*)?(?:[eE][-+]?\d+)?$|^0x[0-9a-f]+$|^0o[0-7]+$|^\.(?:inf|nan)$/i;

export function scalar(v: string | number | boolean | null): string {
  if (v === null) return 'null';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error('non-finite number in YAML');
    return String(v);
  }
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v !== '' && PLAIN.test(v) && !RESERVED.test(v) && !NUMERIC.test(v) && !v.startsWith('-') && !v.startsWith('.')) return v;
  return JSON.stringify(v);
}

function isScalar(v: YamlValue): v is string | number | boolean | null {
  return v === null || typeof v !== 'object';
}

function emit(v: YamlValue, indent: number, out: string[]): void {
  const pad = ' '.repeat(indent);
  if (Array.isArray(v)) {
    for (const item of v) {
      if (isScalar(item)) out.push(`${pad}- ${scalar(item)}`);
      else if (Array.isArray(item)) {
        if (item.length === 0) out.push(`${pad}- []`);
        else {
          out.push(`${pad}-`);
          emit(item, indent + 2, out);
        }
      } else {
        const sub: string[] = [];
        emit(item, indent + 2, sub);
        if (sub.length === 0) out.push(`${pad}- {}`);
        else out.push(`${pad}- ${(sub[0] as string).slice(indent + 2)}`, ...sub.slice(1));
      }
    }
    return;
  }
  if (isScalar(v)) {
    out.push(`${pad}${scalar(v)}`);
    return;
  }
  for (const [k, val] of Object.entries(v)) {
    if (val === undefined) continue;
    const key = scalar(k);
    if (isScalar(val)) out.push(`${pad}${key}: ${scalar(val)}`);
    else if (Array.isArray(val)) {
      if (val.length === 0) out.push(`${pad}${key}: []`);
      else {
        out.push(`${pad}${key}:`);
        emit(val, indent, out);
      }
    } else if (Object.values(val).every((x) => x === undefined)) out.push(`${pad}${key}: {}`);
    else {
      out.push(`${pad}${key}:`);
      emit(val, indent + 2, out);
    }
  }
}

export function toYaml(v: YamlValue): string {
  const out: string[] = [];
  emit(v, 0, out);
  return `${out.join('\n')}\n`;
}
