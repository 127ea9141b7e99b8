/**
 * libinjection itself, called through koffi from Debian's libmodsecurity3 — the same C code
 * (and the same fingerprint table) nginx + ModSecurity runs. The two entry points take a byte
 * pointer and a length, so NUL bytes inside a value are inspected like any other byte.
 *
 * Example:
 *   const lib = loadLibinjection();
 *   const fp = Buffer.alloc(8);
 *   const s = Buffer.from("1' or '1'='1", 'latin1');
 *   lib.sqli(s, s.length, fp); // 1, fp holds "s&sos\0"
 */
import { createRequire } from 'node:module';
import { TriplaneError } from '@triplane/kernel';

type Koffi = typeof import('koffi');

/** Stable code when the library can't be loaded (the WAF refuses to start without it). */
export const WAF_LIBINJECTION = 'TRIPLANE_ERR_WAF_LIBINJECTION';
export const LIBINJECTION_LIBRARY = 'libmodsecurity.so.3';
export const LIBINJECTION_PACKAGE = 'libmodsecurity3';

export interface NativeLibinjection {
  /** the shared object the functions came from */
  readonly file: string;
  /** libinjection_sqli(s, slen, fingerprint[8]): nonzero = SQLi; writes a NUL-terminated fingerprint */
  sqli(bytes: Buffer, length: number, fingerprint: Buffer): number;
  /** libinjection_xss(s, slen): nonzero = XSS */
  xss(bytes: Buffer, length: number): number;
}

const loaded = new Map<string, NativeLibinjection>();

/** Loads (once per file) and binds the two functions; throws TRIPLANE_ERR_WAF_LIBINJECTION when it can't. */
export function loadLibinjection(file = LIBINJECTION_LIBRARY): NativeLibinjection {
  const hit = loaded.get(file);
  if (hit) return hit;
  let lib: ReturnType<Koffi['load']>;
  try {
    // koffi (a native addon) is loaded only here, so the engine stays importable without it
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    lib = koffi.load(file);
  } catch (e) {
    throw new TriplaneError(
      WAF_LIBINJECTION,
      `@detectSQLi/@detectXSS need libinjection from ${file}, which could not be loaded (${(e as Error).message}); ` +
        `install it with "apt-get install ${LIBINJECTION_PACKAGE}"`,
      { file, package: LIBINJECTION_PACKAGE },
      { cause: e },
    );
  }
  try {
    // `void *` rather than `char *`: koffi hands a Buffer's memory to C as is (no copy, no
    // UTF-8 conversion), and lets C write the fingerprint into our buffer.
    const sqli = lib.func('int libinjection_sqli(const void *s, size_t slen, void *fingerprint)');
    const xss = lib.func('int libinjection_xss(const void *s, size_t slen)');
    const bound: NativeLibinjection = {
      file,
      sqli: (bytes, length, fingerprint) => sqli(bytes, length, fingerprint) as number,
      xss: (bytes, length) => xss(bytes, length) as number,
    };
    loaded.set(file, bound);
    return bound;
  } catch (e) {
    throw new TriplaneError(
      WAF_LIBINJECTION,
      `${file} does not export libinjection_sqli/libinjection_xss (${(e as Error).message}); ` +
        `install Debian's "${LIBINJECTION_PACKAGE}" (apt-get install ${LIBINJECTION_PACKAGE})`,
      { file, package: LIBINJECTION_PACKAGE },
      { cause: e },
    );
  }
}
