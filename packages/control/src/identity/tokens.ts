import { newSecret, newSortableId } from '@triplane/kernel';
import type { Kysely, Selectable } from 'kysely';
import { hashSecret, TOKEN_PREFIX } from '../api/auth/secrets.ts';
import type { ApiTokensTable, DB } from '../store/schema.ts';

/** How many leading characters of a token are kept to tell tokens apart in lists. */
export const TOKEN_DISPLAY_PREFIX_LENGTH = 8;

export interface IssueTokenOptions {
  userId: string;
  name: string;
  /** epoch ms */
  nowMs: number;
  /** epoch ms; null or absent: never expires */
  expiresAtMs?: number | null;
}

/**
 * The one place an API token is minted: a 256-bit `tpl_` secret, of which only the SHA-256
 * hash and a display prefix are stored. The secret is returned to the caller to show once;
 * it can never be read back. Call inside the transaction that also writes the audit entry.
 */
export async function issueApiToken(
  trx: Kysely<DB>,
  o: IssueTokenOptions,
): Promise<{ row: Selectable<ApiTokensTable>; token: string }> {
  const token = newSecret(TOKEN_PREFIX.api);
  const row: Selectable<ApiTokensTable> = {
    id: newSortableId('tok', o.nowMs),
    user_id: o.userId,
    name: o.name,
    token_hash: hashSecret(token),
    token_prefix: token.slice(0, TOKEN_DISPLAY_PREFIX_LENGTH),
    created_at: new Date(o.nowMs).toISOString(),
    expires_at: o.expiresAtMs ? new Date(o.expiresAtMs).toISOString() : null,
    revoked_at: null,
    last_used_at: null,
  };
  await trx.insertInto('api_tokens').values(row).execute();
  return { row, token };
}
