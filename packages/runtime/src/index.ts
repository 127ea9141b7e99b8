export { RUNTIME_ERROR_CODES, TriplaneError } from './errors.ts';
export type { RunOptions, RunResult } from './exec.ts';
export { run } from './exec.ts';
export type { HostAction, Problem } from './host/plan.ts';
export { checkPreconditions, HOST_PACKAGES, planHost } from './host/plan.ts';
export type { PrepareOptions, PrepareResult } from './host/prepare.ts';
export { prepareHost } from './host/prepare.ts';
export type { BuildImagesOptions, BuildImagesResult, Progress, ProgressStep } from './images/build.ts';
export { buildImages, computeImageTags, DEFAULT_CACHE_DIR } from './images/build.ts';
export { generateEnvironmentSecrets, renderPodmanSecret, SECRET_KEYS, secretName } from './pod/secret.ts';
export type { TranslatedPod } from './pod/translate.ts';
export { translateEnvironment, userNamespaceArg } from './pod/translate.ts';
export type { ContainerLimits, EnvironmentSpec, PhpSettings, Plan, SecretRef } from './pod/types.ts';
export { podName, UID_BASE, UID_SLOT_SIZE, UID_SLOTS, uidBase, validateEnvironment } from './pod/validate.ts';
export type { ContainerState } from './podman/driver.ts';
export {
  applyEnvironment,
  applyPodPidsLimit,
  DEFAULT_POD_DIR,
  ensureSecret,
  podContainers,
  removeEnvironment,
} from './podman/driver.ts';
