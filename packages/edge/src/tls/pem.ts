import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { TriplaneError } from '@triplane/kernel';

/**
 * Checks a certificate chain + private key at config load, so a bad pair is a config error
 * naming the field (`sites[0].tls.key: does not match the certificate`) and the old config
 * keeps serving — never a handshake failure later.
 *
 * Returns the DNS names of the leaf (SAN dNSName, lower-cased; `*.example.com` kept as is).
 */
export interface CheckedPair {
  names: string[];
  notAfter: string;
}

function err(field: string, reason: string): TriplaneError {
  return new TriplaneError('TRIPLANE_ERR_CONFIG', `${field}: ${reason}`, { field, reason });
}

export function checkPemPair(certPem: string, keyPem: string, certField: string, keyField: string): CheckedPair {
  if (!certPem.includes('-----BEGIN CERTIFICATE-----')) throw err(certField, 'not a PEM certificate');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (e) {
    throw err(certField, `not a valid PEM certificate (${(e as Error).message})`);
  }
  if (!/-----BEGIN (RSA |EC )?PRIVATE KEY-----/.test(keyPem)) throw err(keyField, 'not a PEM private key');
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    throw err(keyField, `not a valid PEM private key (${(e as Error).message})`);
  }
  if (!cert.checkPrivateKey(key)) throw err(keyField, 'does not match the certificate');
  try {
    createSecureContext({ cert: certPem, key: keyPem });
  } catch (e) {
    throw err(certField, `rejected by TLS (${(e as Error).message})`);
  }
  return { names: dnsNames(cert), notAfter: cert.validTo };
}

/** SAN dNSNames (falls back to the subject CN when there is no SAN, as old certificates do). */
export function dnsNames(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (san) {
    return san
      .split(', ')
      .filter((e) => e.startsWith('DNS:'))
      .map((e) => e.slice(4).toLowerCase().replace(/\.$/, ''));
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  return cn ? [cn.toLowerCase()] : [];
}
