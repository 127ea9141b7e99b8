import type { Operator } from './types.ts';

export const unconditionalMatch: Operator = { name: 'unconditionalMatch', compile: () => () => true };
export const noMatch: Operator = { name: 'noMatch', compile: () => () => false };

/**
 * @geoLookup needs a GeoIP database and @rbl a DNS lookup; the pure engine has neither, so both
 * never match (CRS uses them only when GeoIP/RBL checks are configured, off by default).
 */
export const geoLookup: Operator = { name: 'geoLookup', compile: () => () => false };
export const rbl: Operator = { name: 'rbl', compile: () => () => false };
