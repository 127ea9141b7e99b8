import type { ServerStatus } from '@triplane/spec';

/**
 * A server is `online` while its last heartbeat is younger than this. Agents heartbeat every
 * 10 s, so 60 s tolerates five lost beats (a busy control plane, a network blip) before the
 * server counts as gone. Computed when read, so no sweeper has to run.
 */
export const OFFLINE_AFTER_MS = 60_000;

export function serverStatus(row: { joined_at: string | null; last_heartbeat_at: string | null }, nowMs: number): ServerStatus {
  if (!row.joined_at) return 'pending';
  if (!row.last_heartbeat_at) return 'offline';
  return nowMs - Date.parse(row.last_heartbeat_at) < OFFLINE_AFTER_MS ? 'online' : 'offline';
}
