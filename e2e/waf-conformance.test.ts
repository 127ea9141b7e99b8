/**
 * CRS conformance through a REAL edge: `startEdge` with a catch-all site whose `waf.rules` is the
 * CRS 3.3 CI profile (paranoia 4, DetectionOnly, marker rule 999999; ../shared/tools/crs-ftw/profiles)
 * in front of a local origin that answers 200 to everything; the CRS regression tests
 * (../shared/data/crs-tests) are replayed over raw sockets as the corpus builds them, and judged
 * from the status and the site's WAF log file like crs-ftw (packages/waf/src/conformance/edge-runner.ts).
 * The bar is the anchor's (nginx + libmodsecurity3 + the same CRS): 97.8 %.
 * Skipped with the reason when the corpus or Debian's modsecurity-crs is missing.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startEdge } from '@triplane/edge';
import { materializeProfile, runEdgeConformance } from '@triplane/waf/conformance/edge-runner';
import { formatReport } from '@triplane/waf/conformance/runner';

const shared = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../shared');
const testsDir = process.env.TRIPLANE_CRS_TESTS ?? join(shared, 'data/crs-tests');
const profileDir = join(shared, 'tools/crs-ftw/profiles');
const BAR = 97.8;
/** `crs-pl1` (PL1, blocking) prints its rates for information; the bar applies to the CI profile. */
const PROFILE = process.env.TRIPLANE_CRS_PROFILE ?? 'crs-test';

const missing = !existsSync(testsDir)
  ? `CRS regression corpus not found at ${testsDir}`
  : !existsSync('/usr/share/modsecurity-crs/rules') || !existsSync('/etc/modsecurity/crs/crs-setup.conf')
    ? "Debian's modsecurity-crs is not installed"
    : !existsSync(join(profileDir, 'crs-test.conf'))
      ? `crs-ftw profiles not found at ${profileDir}`
      : undefined;

const BODY = '<html><body>ok</body></html>\n';

test(`CRS ${PROFILE} profile through the edge passes at least ${BAR}%`, {
  skip: missing ?? false,
  timeout: 300_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'waf-conformance-'));
  // an origin that accepts whatever the edge forwards, as the CRS CI backend does
  const origin = createServer({ insecureHTTPParser: true, requireHostHeader: false }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/html', 'content-length': String(BODY.length) });
      res.end(BODY);
    });
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', () => r()));
  const logFile = join(dir, 'waf.log');
  const rules = materializeProfile(profileDir, PROFILE, join(dir, 'profile'));
  writeFileSync(logFile, '');
  const edge = await startEdge({
    config: {
      listen: { http: '127.0.0.1:0' },
      // longer than the runner's 5 s: a body shorter than its Content-Length is a client timeout, as with nginx
      limits: { headersTimeoutMs: 6000, requestTimeoutMs: 6000 },
      sites: [
        {
          name: 'crs',
          hosts: ['*'],
          upstreams: [`http://127.0.0.1:${(origin.address() as AddressInfo).port}`],
          waf: { mode: PROFILE === 'crs-test' ? 'detect' : 'block', rules, log: logFile },
        },
      ],
    },
    connectionsCheckingIntervalMs: 250,
  });
  try {
    const t0 = performance.now();
    const rep = await runEdgeConformance({
      port: edge.address.port,
      logFile,
      testsDir,
      concurrency: Number(process.env.TRIPLANE_CRS_CONCURRENCY ?? 8),
      ...(process.env.TRIPLANE_CRS_ONLY ? { only: process.env.TRIPLANE_CRS_ONLY } : {}),
    });
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    const fails = rep.results.filter((r) => r.result === 'fail');
    for (const f of fails) console.log(`FAIL ${f.title} ${f.reasons.join('; ')} status=${f.status} ids=${f.ids.join(',')}`);
    console.log(formatReport(rep));
    const rate = (100 * rep.total.pass) / Math.max(1, rep.total.pass + rep.total.fail);
    console.log(
      `edge CRS conformance (${PROFILE}): ${rep.total.pass}/${rep.total.pass + rep.total.fail} = ${rate.toFixed(1)}% in ${s} s`,
    );
    if (PROFILE === 'crs-test') assert.ok(rate >= BAR, `pass rate ${rate.toFixed(2)}% is below ${BAR}%`);
  } finally {
    await edge.close();
    await new Promise<void>((r) => {
      origin.closeAllConnections();
      origin.close(() => r());
    });
    rmSync(dir, { recursive: true, force: true });
  }
});
