/**
 * `triplane images build [--verbose] [--json]` (also `node packages/runtime/src/images/cli.ts`): builds
 * (or confirms) every image and prints progress. Returns the exit code.
 */
import { buildImages } from './build.ts';

export async function imagesBuildMain(argv: readonly string[]): Promise<number> {
  const verbose = argv.includes('--verbose');
  const json = argv.includes('--json');
  const started = new Map<string, number>();
  const res = await buildImages({
    verbose,
    onProgress: (p) => {
      if (p.line !== undefined) {
        if (verbose) process.stderr.write(`  [${p.image}] ${p.line}\n`);
        return;
      }
      const key = p.image ?? '';
      if (p.step === 'image.build' || p.step === 'rootfs.debootstrap') started.set(key, p.elapsedMs);
      const took =
        p.step === 'image.built' || p.step === 'rootfs.import'
          ? ` (+${((p.elapsedMs - (started.get(key) ?? p.elapsedMs)) / 1000).toFixed(1)} s)`
          : '';
      process.stderr.write(
        `[${(p.elapsedMs / 1000).toFixed(1).padStart(6)} s] ${p.step.padEnd(18)} ${p.image ?? ''} ${p.tag ?? ''}${took}\n`,
      );
    },
  });
  if (json) process.stdout.write(`${JSON.stringify(res, null, 2)}\n`);
  else for (const [k, v] of Object.entries(res.tags)) process.stdout.write(`${k}\t${v}\n`);
  return 0;
}

if (import.meta.main) process.exit(await imagesBuildMain(process.argv.slice(2)));
