import type { AssignedEnvironment } from '@triplane/spec';
import { podIdentity } from '../podman/runtime-spec.ts';
import { type Owner, wwwDataOf } from './ops.ts';

/** What a file-manager job acts on, computed in the agent (the child gets it as its argument). */
export interface FileJobTarget {
  /** the wp-content volume (`podman volume inspect` gives its host mountpoint) */
  volume: string;
  /** the MariaDB container; null on an external database (Pro) */
  dbContainer: string | null;
  dbName: string;
  /** the environment's www-data as the host sees it (new files and directories) */
  owner: Owner;
}

/** Same names as backup/executor.ts targetOf (the pod `<site>-<env>` of runtime-spec.ts). */
export function fileJobTarget(env: AssignedEnvironment): FileJobTarget {
  const { siteId, envName } = podIdentity(env);
  const pod = `${siteId}-${envName}`;
  const pro = env.externalDatabase !== null;
  return {
    volume: `${pod}-wp-content`,
    dbContainer: pro ? null : `${pod}-db`,
    dbName: pro ? (env.externalDatabase?.name ?? 'wordpress') : 'wordpress',
    owner: wwwDataOf(env.runtime.uidSlot),
  };
}
