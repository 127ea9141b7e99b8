import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RUNTIME_ERROR_CODES, TriplaneError } from '../errors.ts';

/** The repository's `images/` folder (packages/runtime/src/images -> ../../../../images). */
export const DEFAULT_IMAGES_DIR = fileURLToPath(new URL('../../../../images/', import.meta.url));

export interface RootfsRecipe {
  suite: string;
  variant: string;
  mirror: string;
  securityMirror: string;
  components: string[];
  /** Paths (relative to the rootfs) whose contents are removed before packing. */
  prune: string[];
  env: string[];
  cmd: string[];
}

export interface ImageRecipe {
  name: string;
  parent: string;
}

export interface ImagesManifest {
  registry: string;
  images: ImageRecipe[];
}

const NAME = /^[a-z][a-z0-9-]{0,30}$/;

function invalid(msg: string): TriplaneError {
  return new TriplaneError(RUNTIME_ERROR_CODES.imageRecipeInvalid, msg);
}

/** Validates the manifest: names, parents defined before use, no cycles. Pure. */
export function validateManifest(m: unknown): ImagesManifest {
  const o = m as Partial<ImagesManifest> | null;
  if (!o || typeof o.registry !== 'string' || !Array.isArray(o.images))
    throw invalid('images.json needs "registry" and "images"');
  const seen = new Set<string>(['rootfs']);
  for (const img of o.images) {
    if (!img || typeof img.name !== 'string' || !NAME.test(img.name))
      throw invalid(`bad image name ${JSON.stringify(img?.name)}`);
    if (seen.has(img.name)) throw invalid(`image ${img.name} defined twice (or named rootfs)`);
    if (typeof img.parent !== 'string' || !seen.has(img.parent))
      throw invalid(`image ${img.name}: parent ${JSON.stringify(img.parent)} must be rootfs or an image listed before it`);
    seen.add(img.name);
  }
  return { registry: o.registry, images: o.images.map((i) => ({ name: i.name, parent: i.parent })) };
}

export function validateRootfsRecipe(r: unknown): RootfsRecipe {
  const o = r as Partial<RootfsRecipe> | null;
  const strs = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (!o || typeof o.suite !== 'string' || !/^[a-z]+$/.test(o.suite)) throw invalid('rootfs recipe: bad suite');
  if (typeof o.variant !== 'string' || !/^[a-z]+$/.test(o.variant)) throw invalid('rootfs recipe: bad variant');
  if (typeof o.mirror !== 'string' || !/^https?:\/\//.test(o.mirror)) throw invalid('rootfs recipe: bad mirror');
  if (typeof o.securityMirror !== 'string' || !/^https?:\/\//.test(o.securityMirror))
    throw invalid('rootfs recipe: bad securityMirror');
  if (!strs(o.components) || !strs(o.prune) || !strs(o.env) || !strs(o.cmd))
    throw invalid('rootfs recipe: components/prune/env/cmd must be string arrays');
  for (const p of o.prune as string[])
    if (p.startsWith('/') || p.split('/').includes('..')) throw invalid(`rootfs recipe: prune path ${p} must be relative`);
  return o as RootfsRecipe;
}

export async function loadManifest(imagesDir: string): Promise<ImagesManifest> {
  return validateManifest(JSON.parse(await readFile(join(imagesDir, 'images.json'), 'utf8')));
}

export async function loadRootfsRecipe(imagesDir: string, mirrorOverride?: string): Promise<RootfsRecipe> {
  const r = validateRootfsRecipe(JSON.parse(await readFile(join(imagesDir, 'rootfs', 'recipe.json'), 'utf8')));
  return mirrorOverride ? { ...r, mirror: mirrorOverride } : r;
}

/** apt sources for the image: the suite plus -updates and -security (pitfall 9). Pure. */
export function renderSourcesList(r: RootfsRecipe): string {
  const c = r.components.join(' ');
  return [
    `deb ${r.mirror} ${r.suite} ${c}`,
    `deb ${r.mirror} ${r.suite}-updates ${c}`,
    `deb ${r.securityMirror} ${r.suite}-security ${c}`,
    '',
  ].join('\n');
}
