/** `triplane host prepare [--dry-run]` (also `node packages/runtime/src/host/cli.ts`). Returns the exit code. */
import { prepareHost } from './prepare.ts';

export async function hostPrepareMain(argv: readonly string[]): Promise<number> {
  try {
    const r = await prepareHost({
      dryRun: argv.includes('--dry-run'),
      onProgress: (m) => process.stderr.write(`host: ${m}\n`),
    });
    process.stderr.write(
      r.applied.length === 0
        ? 'host: already prepared\n'
        : `host: ${r.dryRun ? 'would apply' : 'applied'} ${r.applied.length} action(s)\n`,
    );
    return 0;
  } catch (e) {
    const err = e as { code?: string; message: string };
    process.stderr.write(`host prepare failed: ${err.code ?? 'ERROR'}: ${err.message}\n`);
    return 1;
  }
}

if (import.meta.main) process.exit(await hostPrepareMain(process.argv.slice(2)));
