import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Static, Type } from '@sinclair/typebox';

/**
 * A site's WAF settings (`sites[].waf`, docs/edge.md "WAF") and the SecLang root text they
 * compile from (waf-compile.ts). Data only: loading a config does not load the engine.
 *
 * Example:
 *   waf: { mode: block, paranoia: 2, anomalyThreshold: { inbound: 10 }, exclusions: [920350, { id: 942100, target: "ARGS:content" }] }
 */

/** Debian's modsecurity-crs layout (owasp-crs.load). */
export const CRS_SETUP = '/etc/modsecurity/crs/crs-setup.conf';
export const CRS_RULES_DIR = '/usr/share/modsecurity-crs/rules';
export const CRS_LOCAL_BEFORE = '/etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf';
export const CRS_LOCAL_AFTER = '/etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf';
export const BASE_CONF = resolve(dirname(fileURLToPath(import.meta.url)), '../../waf/conf/base.conf');

/** CRS 3.3 application exclusion packages (REQUEST-903.900x), switched on with tx.crs_exclusions_<name>=1. */
export const CRS_APP_EXCLUSIONS = ['wordpress', 'drupal', 'nextcloud', 'dokuwiki', 'cpanel', 'xenforo'] as const;

/** `ARGS:name`, `REQUEST_COOKIES:/^wp_/`, `REQUEST_HEADERS:User-Agent`: no quotes, spaces or line breaks. */
const TARGET_RE = '^[A-Z_]+(:[^\\s"\'\\\\|,]+)?$';

export const SiteWafConfig = Type.Object(
  {
    mode: Type.Union([Type.Literal('off'), Type.Literal('detect'), Type.Literal('block')]),
    paranoia: Type.Optional(Type.Integer({ minimum: 1, maximum: 4 })),
    anomalyThreshold: Type.Optional(
      Type.Object(
        { inbound: Type.Optional(Type.Integer({ minimum: 1 })), outbound: Type.Optional(Type.Integer({ minimum: 1 })) },
        { additionalProperties: false },
      ),
    ),
    /** A rule id removes the rule; `{ id, target }` removes one target from it (SecRuleUpdateTargetById). */
    exclusions: Type.Optional(
      Type.Array(
        Type.Union([
          Type.Integer({ minimum: 1, maximum: 99_999_999 }),
          Type.Object(
            {
              id: Type.Integer({ minimum: 1, maximum: 99_999_999 }),
              target: Type.String({ pattern: TARGET_RE, maxLength: 256 }),
            },
            { additionalProperties: false },
          ),
        ]),
      ),
    ),
    /** CRS application exclusions; default `[wordpress]` for the wordpress/woocommerce cache profiles. */
    applications: Type.Optional(Type.Array(Type.Union(CRS_APP_EXCLUSIONS.map((n) => Type.Literal(n))))),
    /** Any SecLang file replacing the default (base config + crs-setup + CRS rules). */
    rules: Type.Optional(Type.String({ minLength: 1 })),
    /** ModSecurity-style lines (`[id "…"] [msg "…"] [unique_id "…"]`). */
    log: Type.Optional(Type.String({ minLength: 1 })),
    /** One JSON audit record per relevant transaction (libmodsecurity's JSON shape). */
    auditLog: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);
export type SiteWafInput = Static<typeof SiteWafConfig>;

export interface WafSettings {
  mode: 'detect' | 'block';
  paranoia: number;
  inbound: number;
  outbound: number;
  exclusions: { id: number; target: string | undefined }[];
  applications: string[];
  /** Absolute path, or undefined for the default rule set. */
  rules: string | undefined;
  log: string | undefined;
  auditLog: string | undefined;
}

/** Fills defaults; `mode: off` (or no `waf`) → undefined. Paths resolve against the config file's directory. */
export function resolveWaf(
  w: SiteWafInput | undefined,
  cacheProfile: string,
  baseDir: string | undefined,
): WafSettings | undefined {
  if (!w || w.mode === 'off') return undefined;
  const abs = (p: string | undefined) =>
    p === undefined ? undefined : isAbsolute(p) || !baseDir ? resolve(p) : resolve(baseDir, p);
  return {
    mode: w.mode,
    paranoia: w.paranoia ?? 1,
    inbound: w.anomalyThreshold?.inbound ?? 5,
    outbound: w.anomalyThreshold?.outbound ?? 4,
    exclusions: (w.exclusions ?? []).map((e) =>
      typeof e === 'number' ? { id: e, target: undefined } : { id: e.id, target: e.target },
    ),
    applications: w.applications ?? (cacheProfile === 'wordpress' || cacheProfile === 'woocommerce' ? ['wordpress'] : []),
    rules: abs(w.rules),
    log: abs(w.log),
    auditLog: abs(w.auditLog),
  };
}

/** The root SecLang text for a setting (what is compiled), without the log destinations. */
export function wafRootText(s: WafSettings): string {
  const lines: string[] = [];
  if (s.rules) lines.push(`Include "${s.rules}"`);
  else {
    lines.push(
      `Include "${BASE_CONF}"`,
      `SecRuleEngine ${s.mode === 'block' ? 'On' : 'DetectionOnly'}`,
      // crs-setup.conf.example's 900000 / 900110 / 900130, set before crs-setup (901 only fills unset values)
      `SecAction "id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level=${s.paranoia}"`,
      `SecAction "id:900110,phase:1,nolog,pass,t:none,setvar:tx.inbound_anomaly_score_threshold=${s.inbound},setvar:tx.outbound_anomaly_score_threshold=${s.outbound}"`,
    );
    if (s.applications.length > 0) {
      const vars = s.applications.map((a) => `setvar:tx.crs_exclusions_${a}=1`).join(',');
      lines.push(`SecAction "id:900130,phase:1,nolog,pass,t:none,${vars}"`);
    }
    lines.push(
      `Include "${CRS_SETUP}"`,
      `Include "${CRS_LOCAL_BEFORE}"`,
      `Include "${CRS_RULES_DIR}/*.conf"`,
      `Include "${CRS_LOCAL_AFTER}"`,
      // after every phase-2 CRS rule: regex work past the per-transaction budget on crafted long values
      // (operators/rx.ts) is refused, so padding can't buy a bypass (ModSecurity: PCRE limits → 200005)
      `SecRule TX:MSC_PCRE_LIMITS_EXCEEDED "@eq 1" "id:200006,phase:2,t:none,log,deny,status:403,msg:'Regex work limit exceeded on a long value'"`,
    );
  }
  for (const e of s.exclusions) {
    lines.push(e.target === undefined ? `SecRuleRemoveById ${e.id}` : `SecRuleUpdateTargetById ${e.id} "!${e.target}"`);
  }
  return `${lines.join('\n')}\n`;
}
