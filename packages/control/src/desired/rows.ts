import type { ContainerStatus, EnvironmentStatus, ExternalDatabase, PhpSettings, ResourceLimits } from '@triplane/spec';
import type { Selectable } from 'kysely';
import type { EnvironmentsTable } from '../store/schema.ts';

/**
 * Typed views of the JSON columns of `environments` (the store keeps JSON as text so that one
 * schema serves SQLite and PostgreSQL). Parsing is forgiving: a missing or damaged value reads
 * as the empty default, never as a crash.
 */

export type EnvironmentRow = Selectable<EnvironmentsTable>;

/** `environments.runtime`: what provisioning allocated. */
export interface RuntimeJson {
  unixUser: string | null;
  uidSlot: number | null;
  /** server id → web host port on that server */
  webPorts: Record<string, number>;
  /** true: `server_ids` was chosen by a user and placement never changes it */
  pinned: boolean;
}

export interface ObservedEntry {
  status: EnvironmentStatus;
  message: string | null;
  generation: number | null;
  at: string;
  containers: ContainerStatus[];
  /** the agent reported the application installed (sticky: kept when a later report omits it) */
  installed?: boolean;
}

/** `environments.observed`: the latest report of each server's agent. */
export interface ObservedJson {
  servers: Record<string, ObservedEntry>;
}

function parse(text: string | null): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function emptyRuntime(pinned = false): RuntimeJson {
  return { unixUser: null, uidSlot: null, webPorts: {}, pinned };
}

export function parseRuntime(text: string | null): RuntimeJson {
  const v = parse(text);
  if (!isObject(v)) return emptyRuntime();
  const ports: Record<string, number> = {};
  if (isObject(v.webPorts)) for (const [k, p] of Object.entries(v.webPorts)) if (typeof p === 'number') ports[k] = p;
  return {
    unixUser: typeof v.unixUser === 'string' ? v.unixUser : null,
    uidSlot: typeof v.uidSlot === 'number' ? v.uidSlot : null,
    webPorts: ports,
    pinned: v.pinned === true,
  };
}

export function parseObserved(text: string | null): ObservedJson {
  const v = parse(text);
  if (!isObject(v) || !isObject(v.servers)) return { servers: {} };
  return { servers: v.servers as Record<string, ObservedEntry> };
}

export function parseServerIds(text: string | null): string[] {
  const v = parse(text);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

export function parsePhp(text: string): PhpSettings {
  return parse(text) as PhpSettings;
}

export function parseResources(text: string): ResourceLimits {
  return parse(text) as ResourceLimits;
}

export function parseExternalDatabase(text: string | null): ExternalDatabase | null {
  const v = parse(text);
  return isObject(v) ? (v as unknown as ExternalDatabase) : null;
}

/** Serialize a server id list in one canonical form (sorted), so `server_ids = '[]'` queries work. */
export function serverIdsJson(ids: readonly string[]): string {
  return JSON.stringify([...new Set(ids)].sort());
}
