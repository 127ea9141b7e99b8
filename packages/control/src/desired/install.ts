import { randomBytes } from 'node:crypto';
import type { InstallIntent } from '@triplane/spec';

/** Site kinds whose environments get a WordPress install intent. */
export const WORDPRESS_KINDS: ReadonlySet<string> = new Set(['wordpress', 'woocommerce']);

/** A strong admin password: 24 base64url characters (144 random bits). */
export function newAdminPassword(): string {
  return randomBytes(18).toString('base64url');
}

/**
 * The one-time install intent of a new WordPress site (pure but for the password): title
 * (default: the site name), admin user (default `admin`), admin email (default
 * `admin@<primary domain>`, or `admin@example.invalid`), a fresh password, and the site URL
 * when the site has a primary domain (else the agent uses the web port's address).
 */
export function newInstallIntent(o: {
  siteName: string;
  domains: readonly string[];
  title?: string | undefined;
  adminUser?: string | undefined;
  adminEmail?: string | undefined;
  password?: string | undefined;
}): InstallIntent {
  const primary = o.domains[0];
  return {
    title: o.title ?? o.siteName,
    adminUser: o.adminUser ?? 'admin',
    adminEmail: o.adminEmail ?? `admin@${primary ?? 'example.invalid'}`,
    adminPassword: o.password ?? newAdminPassword(),
    // TLS is on by default at the edge (plain HTTP redirects): WordPress is installed as https://primary.
    ...(primary ? { url: `https://${primary}` } : {}),
  };
}
