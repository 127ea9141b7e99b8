/**
 * Errors with stable codes for the runtime package.
 *
 * Example:
 *   throw new TriplaneError('TRIPLANE_ERR_HOST_NOT_ROOT', 'run `triplane host prepare` as root');
 */
export { TriplaneError } from '@triplane/kernel';

/** Codes thrown by this package (stable; callers may switch on them). */
export const RUNTIME_ERROR_CODES = {
  notRoot: 'TRIPLANE_ERR_HOST_NOT_ROOT',
  noUserNamespaces: 'TRIPLANE_ERR_HOST_NO_USERNS',
  diskFull: 'TRIPLANE_ERR_HOST_DISK_FULL',
  aptFailed: 'TRIPLANE_ERR_HOST_APT_FAILED',
  commandFailed: 'TRIPLANE_ERR_COMMAND_FAILED',
  commandTimeout: 'TRIPLANE_ERR_COMMAND_TIMEOUT',
  imageBuildFailed: 'TRIPLANE_ERR_IMAGE_BUILD_FAILED',
  imageRecipeInvalid: 'TRIPLANE_ERR_IMAGE_RECIPE_INVALID',
  podSpecInvalid: 'TRIPLANE_ERR_POD_SPEC_INVALID',
} as const;
