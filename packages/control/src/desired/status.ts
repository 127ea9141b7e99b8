import type { EnvironmentStatus } from '@triplane/spec';
import type { ObservedEntry } from './rows.ts';

/**
 * An environment's status from its agents' reports (pure). Only reports from the servers it is
 * placed on count. One server, or all agreeing: their status. Disagreeing: `degraded` when at
 * least one runs it, otherwise the most severe one. No reports yet: undefined (keep the status).
 */
const SEVERITY: EnvironmentStatus[] = [
  'failed',
  'crash-looping',
  'degraded',
  'provisioning',
  'pending',
  'stopped',
  'running',
  'deleting',
];

export function aggregateStatus(
  serverIds: readonly string[],
  observed: Readonly<Record<string, ObservedEntry>>,
): { status: EnvironmentStatus; message: string | null } | undefined {
  const reports = serverIds.map((s) => observed[s]).filter((r): r is ObservedEntry => r !== undefined);
  if (reports.length === 0) return undefined;
  const first = reports[0] as ObservedEntry;
  if (reports.every((r) => r.status === first.status)) {
    return { status: first.status, message: reports.find((r) => r.message)?.message ?? null };
  }
  const running = reports.filter((r) => r.status === 'running').length;
  if (running > 0) return { status: 'degraded', message: `running on ${running} of ${serverIds.length} servers` };
  const worst = [...reports].sort((a, b) => SEVERITY.indexOf(a.status) - SEVERITY.indexOf(b.status))[0] as ObservedEntry;
  return { status: worst.status, message: worst.message };
}
