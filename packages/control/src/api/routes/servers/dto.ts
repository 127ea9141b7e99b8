import type { Server, ServerFacts, ServerRole } from '@triplane/spec';
import type { Selectable } from 'kysely';
import { serverStatus } from '../../../desired/servers.ts';
import type { ServersTable } from '../../../store/schema.ts';

function facts(text: string | null): ServerFacts | null {
  if (!text) return null;
  try {
    const v = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as ServerFacts) : null;
  } catch {
    return null;
  }
}

/** A servers row → the API's Server. Join-token and credential hashes never leave the store. */
export function toServer(r: Selectable<ServersTable>, nowMs: number, environmentCount: number): Server {
  return {
    id: r.id,
    name: r.name,
    role: r.role as ServerRole,
    status: serverStatus(r, nowMs),
    address: r.address,
    agentVersion: r.agent_version,
    facts: facts(r.facts),
    joinedAt: r.joined_at,
    lastHeartbeatAt: r.last_heartbeat_at,
    joinTokenExpiresAt: r.join_token_hash ? r.join_token_expires_at : null,
    environmentCount,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
