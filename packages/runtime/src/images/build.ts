import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { withLock } from '@triplane/kernel';
import { RUNTIME_ERROR_CODES, TriplaneError } from '../errors.ts';
import { combineHash, hashTree } from './hash.ts';
import { buildImage, imageExists, importTarball, listTags, pruneDangling, removeImage } from './podman-image.ts';
import { DEFAULT_IMAGES_DIR, loadManifest, loadRootfsRecipe, renderSourcesList } from './recipe.ts';
import { buildRootfsTarball } from './rootfs.ts';

/**
 * Builds every image with no registry: rootfs (debootstrap -> tarball -> podman import),
 * then `podman build` per recipe in images.json order. Each tag is content-hashed
 * (recipe folder + parent hash), so an existing tag means "already built" and a rerun
 * with nothing changed is a handful of `podman image exists` calls.
 *
 * Example:
 *   const { tags } = await buildImages({ onProgress: (p) => console.log(p.step, p.image) });
 *   tags.php // 'localhost/triplane/php:3f0c9a1e5b7d2c44'
 */
export type ProgressStep =
  | 'start'
  | 'rootfs.cached'
  | 'rootfs.debootstrap'
  | 'rootfs.tarball'
  | 'rootfs.import'
  | 'image.cached'
  | 'image.build'
  | 'image.built'
  | 'prune'
  | 'done';

export interface Progress {
  step: ProgressStep;
  image?: string;
  tag?: string;
  /** Milliseconds since buildImages() started. */
  elapsedMs: number;
  /** A line of build output (only with `verbose`). */
  line?: string;
}

export interface BuildImagesOptions {
  onProgress?: (p: Progress) => void;
  imagesDir?: string;
  cacheDir?: string;
  /** Override the Debian mirror (part of the rootfs hash). */
  mirror?: string;
  /** Forward every output line of debootstrap/podman build as progress. */
  verbose?: boolean;
  /** Remove older tags of the same images (kept when a container still uses them). Default true. */
  prune?: boolean;
}

export interface BuildImagesResult {
  /** name -> full tag, including `rootfs`. */
  tags: Record<string, string>;
  built: string[];
  cached: string[];
  elapsedMs: number;
}

export const DEFAULT_CACHE_DIR = '/var/cache/triplane';
/** Bump when the TypeScript steps themselves change what ends up in the rootfs. */
const ROOTFS_STEPS_VERSION = '1';

function debootstrapVersion(): string {
  try {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query format, not a template
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', 'debootstrap'], { encoding: 'utf8' }).trim();
  } catch {
    throw new TriplaneError(
      RUNTIME_ERROR_CODES.imageBuildFailed,
      'debootstrap is not installed: run `triplane host prepare` first',
    );
  }
}

/** Computes every tag without building anything (used by buildImages and by callers that only need names). */
export async function computeImageTags(opts: { imagesDir?: string; mirror?: string } = {}): Promise<Record<string, string>> {
  const dir = opts.imagesDir ?? DEFAULT_IMAGES_DIR;
  const manifest = await loadManifest(dir);
  const recipe = await loadRootfsRecipe(dir, opts.mirror ?? process.env.TRIPLANE_DEBIAN_MIRROR);
  const hashes: Record<string, string> = {
    rootfs: combineHash({
      recipe: JSON.stringify(recipe),
      overlay: await hashTree(join(dir, 'rootfs', 'overlay')),
      sources: renderSourcesList(recipe),
      debootstrap: debootstrapVersion(),
      steps: ROOTFS_STEPS_VERSION,
    }),
  };
  for (const img of manifest.images) {
    hashes[img.name] = combineHash({ parent: hashes[img.parent] ?? '', recipe: await hashTree(join(dir, img.name)) });
  }
  const tags: Record<string, string> = {};
  for (const [name, h] of Object.entries(hashes)) tags[name] = `${manifest.registry}/${name}:${h}`;
  return tags;
}

export async function buildImages(opts: BuildImagesOptions = {}): Promise<BuildImagesResult> {
  const t0 = Date.now();
  const dir = opts.imagesDir ?? DEFAULT_IMAGES_DIR;
  const cacheDir = opts.cacheDir ?? DEFAULT_CACHE_DIR;
  const emit = (step: ProgressStep, extra: Partial<Progress> = {}) =>
    opts.onProgress?.({ step, elapsedMs: Date.now() - t0, ...extra });
  const lineSink = (image: string) => (opts.verbose ? (line: string) => emit('image.build', { image, line }) : undefined);
  const manifest = await loadManifest(dir);
  const recipe = await loadRootfsRecipe(dir, opts.mirror ?? process.env.TRIPLANE_DEBIAN_MIRROR);
  const tags = await computeImageTags({ imagesDir: dir, mirror: opts.mirror });
  const built: string[] = [];
  const cached: string[] = [];
  emit('start');
  await mkdir(cacheDir, { recursive: true, mode: 0o700 });

  await withLock(join(cacheDir, 'images.lock'), 60 * 60_000, async () => {
    const rootfsTag = tags.rootfs as string;
    if (await imageExists(rootfsTag)) {
      cached.push('rootfs');
      emit('rootfs.cached', { image: 'rootfs', tag: rootfsTag });
    } else {
      emit('rootfs.debootstrap', { image: 'rootfs', tag: rootfsTag });
      const hash = rootfsTag.slice(rootfsTag.lastIndexOf(':') + 1);
      const tar = await buildRootfsTarball({
        recipe,
        overlayDir: join(dir, 'rootfs', 'overlay'),
        cacheDir,
        hash,
        onLine: lineSink('rootfs'),
      });
      emit('rootfs.tarball', { image: 'rootfs', tag: rootfsTag, line: tar.cached ? `cached ${tar.path}` : `wrote ${tar.path}` });
      emit('rootfs.import', { image: 'rootfs', tag: rootfsTag });
      const changes = [...recipe.env.map((e) => `ENV ${e}`), `CMD ${JSON.stringify(recipe.cmd)}`, `LABEL triplane.image=rootfs`];
      await importTarball(tar.path, rootfsTag, changes);
      built.push('rootfs');
    }
    for (const img of manifest.images) {
      const tag = tags[img.name] as string;
      if (await imageExists(tag)) {
        cached.push(img.name);
        emit('image.cached', { image: img.name, tag });
        continue;
      }
      emit('image.build', { image: img.name, tag });
      try {
        await buildImage({
          contextDir: join(dir, img.name),
          tag,
          buildArgs: { PARENT: tags[img.parent] as string },
          labels: { 'triplane.image': img.name, 'triplane.recipe-hash': tag.slice(tag.lastIndexOf(':') + 1) },
          onLine: lineSink(img.name),
        });
      } catch (e) {
        throw new TriplaneError(
          RUNTIME_ERROR_CODES.imageBuildFailed,
          `building image ${img.name} (${tag}) failed: ${(e as Error).message}`,
          { image: img.name, tag },
          { cause: e },
        );
      }
      built.push(img.name);
      emit('image.built', { image: img.name, tag });
    }
    if (opts.prune !== false && built.length > 0) {
      emit('prune');
      let removed = 0;
      for (const tag of Object.values(tags)) {
        const repo = tag.slice(0, tag.lastIndexOf(':'));
        for (const old of await listTags(repo)) if (old !== tag && (await removeImage(old))) removed++;
      }
      if (removed > 0) await pruneDangling();
    }
  });
  const result = { tags, built, cached, elapsedMs: Date.now() - t0 };
  emit('done');
  return result;
}
