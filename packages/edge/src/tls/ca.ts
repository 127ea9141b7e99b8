import 'reflect-metadata';
import { createPrivateKey, X509Certificate as NodeX509, randomBytes, webcrypto } from 'node:crypto';

import { chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { type Logger, silentLogger, TriplaneError, withLock, writeFileAtomic } from '@triplane/kernel';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

/**
 * The platform CA: an ECDSA P-256 certificate authority the edge creates on first use and
 * reuses on later starts, so a site whose domain has no certificate yet is still served over
 * TLS (clients that trust `ca.crt` — tests, internal checks, staging — verify it; browsers
 * warn until a real certificate arrives).
 *
 *   DIR/ca.key   PKCS#8 private key, 0600        DIR/ca.crt   certificate, 0644
 *   DIR/ca.lock  held while creating, so two edges starting at once make one CA, not two
 *
 * Leaf certificates (SAN dNSName = the host, EKU serverAuth, 90 days, own P-256 key) are issued
 * on demand and kept in memory; a host's leaf is generated once (concurrent handshakes share
 * the same promise) and re-issued when it has less than 30 days left.
 *
 * Example:
 *   const ca = await PlatformCa.open({ dir: '/var/lib/triplane/edge/tls' });
 *   const ctx = await ca.leafContext('shop.example.test');   // a SecureContext for SNICallback
 */
const EC: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGN: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 86_400_000;
const CA_DAYS = 3650;
const LEAF_DAYS = 90;
const RENEW_BEFORE_MS = 30 * DAY_MS;
const CA_NAME = 'CN=Triplane Edge Platform CA, O=Triplane';

export interface PemPair {
  certPem: string;
  keyPem: string;
}

interface Leaf extends PemPair {
  context: SecureContext;
  notAfter: number;
}

export interface PlatformCaOptions {
  /** Where ca.key/ca.crt live; undefined = an in-memory CA for this process only (tests). */
  dir: string | undefined;
  logger?: Logger;
  now?: () => number;
}

/** One open per directory per process: the pid lock does not exclude its own process. */
const opening = new Map<string, Promise<PlatformCa>>();

export class PlatformCa {
  readonly certPem: string;
  readonly #key: CryptoKey;
  readonly #cert: x509.X509Certificate;
  readonly #now: () => number;
  /**
   * Per host: the issuance in flight or done (`leaf` once settled, so the common handshake path needs
   * no promise) and, while a renewal runs, the `previous` leaf that keeps serving until it expires.
   */
  readonly #leaves = new Map<string, { p: Promise<Leaf>; leaf?: Leaf; previous?: Leaf }>();
  #fallback: Promise<PemPair> | undefined;

  private constructor(cert: x509.X509Certificate, key: CryptoKey, now: () => number) {
    this.#cert = cert;
    this.#key = key;
    this.#now = now;
    this.certPem = cert.toString('pem');
  }

  static open(o: PlatformCaOptions): Promise<PlatformCa> {
    const now = o.now ?? Date.now;
    if (o.dir === undefined) return createCa(now).then(({ cert, key }) => new PlatformCa(cert, key, now));
    const dir = o.dir;
    let p = opening.get(dir);
    if (!p) {
      p = openDir(dir, now, o.logger ?? silentLogger()).then(({ cert, key }) => new PlatformCa(cert, key, now));
      opening.set(dir, p);
      p.catch(() => opening.delete(dir));
    }
    return p;
  }

  /** The leaf for `host` if it is already issued and not due for renewal (no waiting). */
  readyContext(host: string): SecureContext | undefined {
    const e = this.#leaves.get(host);
    const now = this.#now();
    if (e?.leaf && e.leaf.notAfter - now > RENEW_BEFORE_MS) return e.leaf.context;
    if (e && !e.leaf && e.previous && e.previous.notAfter > now) return e.previous.context;
    return undefined;
  }

  /** A leaf certificate for `host` signed by this CA; issued once per host and cached. */
  async leaf(host: string): Promise<PemPair> {
    return this.#leaf(host);
  }

  async leafContext(host: string): Promise<SecureContext> {
    return (await this.#leaf(host)).context;
  }

  #leaf(host: string): Promise<Leaf> {
    const e = this.#leaves.get(host);
    // in flight, or issued and not due for renewal: share it
    if (e && (!e.leaf || e.leaf.notAfter - this.#now() > RENEW_BEFORE_MS)) return e.p;
    const entry: { p: Promise<Leaf>; leaf?: Leaf; previous?: Leaf } = { p: this.#issue(host) };
    if (e?.leaf) entry.previous = e.leaf;
    entry.p.then(
      (l) => {
        entry.leaf = l;
        delete entry.previous;
      },
      () => {
        if (this.#leaves.get(host) === entry) this.#leaves.delete(host);
      },
    );
    this.#leaves.set(host, entry);
    return entry.p;
  }

  async #issue(host: string): Promise<Leaf> {
    const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = this.#now();
    const notAfter = now + LEAF_DAYS * DAY_MS;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${host}`,
      issuer: this.#cert.subject,
      // an hour back: clients with a slightly slow clock still accept a fresh leaf
      notBefore: new Date(now - 3_600_000),
      notAfter: new Date(notAfter),
      signingAlgorithm: SIGN,
      publicKey: keys.publicKey,
      signingKey: this.#key,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: host }]),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(this.#cert),
      ],
    });
    const certPem = cert.toString('pem');
    const keyPem = await exportKey(keys.privateKey);
    // chain = leaf + CA, so clients that trust only the CA can build the path
    const context = createSecureContext({ cert: `${certPem}\n${this.certPem}`, key: keyPem });
    return { certPem, keyPem, context, notAfter };
  }

  /**
   * The certificate for handshakes whose SNI names no configured site (or carries no SNI):
   * self-signed, naming only `triplane-edge.invalid`, so it never reveals or impersonates a site.
   */
  fallback(): Promise<PemPair> {
    this.#fallback ??= (async () => {
      const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
      const now = this.#now();
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: serial(),
        name: 'CN=triplane-edge.invalid',
        notBefore: new Date(now - 3_600_000),
        notAfter: new Date(now + CA_DAYS * DAY_MS),
        signingAlgorithm: SIGN,
        keys,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'triplane-edge.invalid' }]),
        ],
      });
      return { certPem: cert.toString('pem'), keyPem: await exportKey(keys.privateKey) };
    })();
    return this.#fallback;
  }
}

/** A positive 128-bit serial (RFC 5280 §4.1.2.2: positive, ≤ 20 octets, unpredictable). */
function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
  return b.toString('hex');
}

async function exportKey(k: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', k), 'PRIVATE KEY');
}

async function createCa(now: () => number): Promise<{ cert: x509.X509Certificate; key: CryptoKey }> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const t = now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: CA_NAME,
    notBefore: new Date(t - 3_600_000),
    notAfter: new Date(t + CA_DAYS * DAY_MS),
    signingAlgorithm: SIGN,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, key: keys.privateKey };
}

function caError(dir: string, reason: string, cause?: unknown): TriplaneError {
  return new TriplaneError('TRIPLANE_ERR_CONFIG', `tls.caDir ${dir}: ${reason}`, { field: 'tls.caDir', dir, reason }, { cause });
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function openDir(dir: string, now: () => number, logger: Logger): Promise<{ cert: x509.X509Certificate; key: CryptoKey }> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw caError(dir, `cannot create (${(e as Error).message})`, e);
  }
  const keyFile = join(dir, 'ca.key');
  const certFile = join(dir, 'ca.crt');
  return withLock(
    join(dir, 'ca.lock'),
    30_000,
    async () => {
      const [keyPem, certPem] = await Promise.all([readOptional(keyFile), readOptional(certFile)]);
      if (certPem !== undefined && keyPem === undefined) throw caError(dir, 'ca.crt exists without ca.key');
      if (keyPem !== undefined && certPem !== undefined) return loadCa(dir, certPem, keyPem, now);
      // Nothing there, or a key left by a crash before the certificate was written (never used): create.
      const ca = await createCa(now);
      // key first: a crash between the writes leaves a key without a certificate, which is recreated above
      await writeFileAtomic(keyFile, await exportKey(ca.key));
      await writeFileAtomic(certFile, ca.cert.toString('pem'));
      await chmod(certFile, 0o644);
      logger.info({ dir, subject: ca.cert.subject }, 'platform CA created');
      return ca;
    },
    'another edge creating the platform CA',
  );
}

async function loadCa(
  dir: string,
  certPem: string,
  keyPem: string,
  now: () => number,
): Promise<{ cert: x509.X509Certificate; key: CryptoKey }> {
  let nodeCert: NodeX509;
  try {
    nodeCert = new NodeX509(certPem);
    if (!nodeCert.checkPrivateKey(createPrivateKey(keyPem))) throw new Error('ca.key does not match ca.crt');
  } catch (e) {
    throw caError(dir, (e as Error).message, e);
  }
  if (Date.parse(nodeCert.validTo) <= now()) throw caError(dir, `ca.crt expired on ${nodeCert.validTo}`);
  if (!nodeCert.ca) throw caError(dir, 'ca.crt is not a CA certificate');
  try {
    const key = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(keyPem), EC, true, ['sign']);
    return { cert: new x509.X509Certificate(certPem), key };
  } catch (e) {
    throw caError(dir, `ca.key is not a PKCS#8 ECDSA P-256 key (${(e as Error).message})`, e);
  }
}
