import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashSecret } from '@triplane/control/api/auth/secrets';
import { audit } from '@triplane/control/audit/audit';
import { initPlatform } from '@triplane/control/bootstrap/init';
import { issueApiToken } from '@triplane/control/identity/tokens';
import { openStore, type Store } from '@triplane/control/store/store';
import { isoNow } from '@triplane/kernel';

export interface StoreFlags {
  dataDir?: string | undefined;
  databaseUrl?: string | undefined;
}

export function openFromFlags(f: StoreFlags): Store {
  return openStore({ dataDir: f.dataDir, databaseUrl: f.databaseUrl });
}

export interface InitOutcome {
  created: boolean;
  token: string | null;
  orgId: string;
  userId: string;
  migrationsApplied: string[];
}

/** `triplane init`: migrate, create the owner organization and user once, return the token once. */
export async function runInit(f: StoreFlags): Promise<InitOutcome> {
  const store = openFromFlags(f);
  try {
    const r = await initPlatform(store);
    return {
      created: r.created,
      token: r.token ?? null,
      orgId: r.orgId,
      userId: r.userId,
      migrationsApplied: r.migrationsApplied,
    };
  } finally {
    await store.close();
  }
}

export const OWNER_TOKEN_FILE = 'owner-token';

function writeSecretFile(path: string, secret: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${secret}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/**
 * `triplane up`'s owner token: the store keeps only hashes, so the token made by the first
 * init is kept in DATA_DIR/owner-token (mode 0600) for later runs to print. When the platform
 * was initialised some other way (`triplane init`, whose token was shown once), a new token
 * named `up` is minted for the owner — recorded in the audit log — and kept in that file.
 */
export async function ensureOwnerToken(
  dataDir: string,
  f: StoreFlags,
): Promise<{ token: string; created: boolean; minted: boolean; orgId: string }> {
  const path = join(dataDir, OWNER_TOKEN_FILE);
  const store = openFromFlags(f);
  try {
    const r = await initPlatform(store);
    if (r.created && r.token) {
      writeSecretFile(path, r.token);
      return { token: r.token, created: true, minted: false, orgId: r.orgId };
    }
    if (existsSync(path)) {
      const saved = readFileSync(path, 'utf8').trim();
      const row = await store.db
        .selectFrom('api_tokens')
        .select(['revoked_at', 'expires_at'])
        .where('token_hash', '=', hashSecret(saved))
        .executeTakeFirst();
      if (row && !row.revoked_at && (!row.expires_at || row.expires_at > isoNow())) {
        return { token: saved, created: false, minted: false, orgId: r.orgId };
      }
    }
    const token = await store.transaction(async (trx) => {
      const issued = await issueApiToken(trx, { userId: r.userId, name: 'up', nowMs: Date.now() });
      await audit(trx, null, {
        action: 'token.create',
        orgId: r.orgId,
        targetType: 'api_token',
        targetId: issued.row.id,
        details: { name: 'up', userId: r.userId, reason: 'triplane up: no saved owner token' },
      });
      return issued.token;
    });
    writeSecretFile(path, token);
    return { token, created: false, minted: true, orgId: r.orgId };
  } finally {
    await store.close();
  }
}
