import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { type Flags, withApi } from '../cli/command.ts';
import { session } from '../cli/context.ts';
import { usageError } from '../cli/exit.ts';
import { line, note, printJson, table } from '../cli/output.ts';
import { resolveEnvironment } from '../cli/resolve.ts';

/**
 * `[env] <path>` after `<site>`: one word is the path (environment production), two are the
 * environment and the path. Paths are relative to wp-content; a leading or trailing '/' is
 * dropped here for convenience ('/' alone = the root) — the API itself refuses them.
 */
export function envAndPath(rest: string[], what = 'path'): { envRef: string | undefined; path: string } {
  if (rest.length === 0 || rest.length > 2) throw usageError(`expected [env] <${what}>`);
  const raw = (rest.length === 2 ? rest[1] : rest[0]) as string;
  const path = raw.replace(/^\/+/, '').replace(/\/+$/, '');
  return { envRef: rest.length === 2 ? rest[0] : undefined, path: path === '.' ? '' : path };
}

export function size(n: number): string {
  if (n < 1024) return `${n}`;
  const units = ['K', 'M', 'G'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)}${units[i]}`;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** `triplane files ls|cat|put|rm|mkdir <site> [env] <path>`: the file manager (wp-content). */
export function registerFiles(program: Command): void {
  const files = program
    .command('files')
    .description("a site's files (wp-content): list, view, download, upload, delete, make directories");
  const org = (c: Command) => c.option('--org <org>', 'organization (when the site name is not unique)');

  withApi(
    org(
      files
        .command('ls')
        .description('list a directory')
        .argument('<site>', 'site name or id')
        .argument('[env-and-path...]', '[env] [path]'),
    ),
  ).action(async (siteRef: string, rest: string[], flags: Flags) => {
    const s = session(flags);
    const { envRef, path } = rest.length ? envAndPath(rest) : { envRef: undefined, path: '' };
    const { env } = await resolveEnvironment(s.client, siteRef, envRef, flags.org as string | undefined);
    const l = await s.client.files.list(env.id, path);
    if (s.json) return printJson(l);
    table(l.entries, [
      ['mode', (e) => `${e.type === 'dir' ? 'd' : e.type === 'symlink' ? 'l' : '-'}${e.mode}`],
      ['size', (e) => (e.type === 'dir' ? '-' : size(e.size))],
      ['modified', (e) => e.mtime.slice(0, 16).replace('T', ' ')],
      ['name', (e) => (e.type === 'symlink' ? `${e.name} -> ${e.target ?? '?'}` : e.type === 'dir' ? `${e.name}/` : e.name)],
    ]);
    if (l.truncated) note('(only the first 5000 entries)');
  });

  withApi(
    org(
      files
        .command('cat')
        .description('print a file (or save it with --output)')
        .argument('<site>', 'site name or id')
        .argument('<env-and-path...>', '[env] <path>')
        .option('-o, --output <file>', 'write to this local file instead of stdout'),
    ),
  ).action(async (siteRef: string, rest: string[], flags: Flags) => {
    const s = session(flags);
    const { envRef, path } = envAndPath(rest);
    const { env } = await resolveEnvironment(s.client, siteRef, envRef, flags.org as string | undefined);
    const bytes = await s.client.files.read(env.id, path);
    if (flags.output) {
      await writeFile(flags.output as string, bytes);
      note(`${bytes.length} bytes → ${flags.output as string}`);
    } else process.stdout.write(bytes);
  });

  withApi(
    org(
      files
        .command('put')
        .description('create or replace a file (up to 5 MiB) from --from <local file> or stdin')
        .argument('<site>', 'site name or id')
        .argument('<env-and-path...>', '[env] <path>')
        .option('--from <file>', 'local file to upload (default: stdin)')
        .option('--create-only', 'fail if the file exists'),
    ),
  ).action(async (siteRef: string, rest: string[], flags: Flags) => {
    const s = session(flags);
    const { envRef, path } = envAndPath(rest);
    if (!flags.from && process.stdin.isTTY) throw usageError('give --from <file>, or pipe the content on stdin');
    const bytes = flags.from ? await readFile(flags.from as string) : await readStdin();
    const { site, env } = await resolveEnvironment(s.client, siteRef, envRef, flags.org as string | undefined);
    const e = await s.client.files.write(env.id, path, new Uint8Array(bytes), { createOnly: flags.createOnly === true });
    if (s.json) return printJson(e);
    line(`wrote ${path} (${e.size} bytes, ${e.mode}) in ${site.name}/${env.name}`);
  });

  withApi(
    org(
      files
        .command('rm')
        .description('delete a file, a symlink, or a directory (non-empty: -r)')
        .argument('<site>', 'site name or id')
        .argument('<env-and-path...>', '[env] <path>')
        .option('-r, --recursive', 'a directory with everything in it'),
    ),
  ).action(async (siteRef: string, rest: string[], flags: Flags) => {
    const s = session(flags);
    const { envRef, path } = envAndPath(rest);
    if (!path) throw usageError('the root of the site files cannot be deleted');
    const { env } = await resolveEnvironment(s.client, siteRef, envRef, flags.org as string | undefined);
    const r = await s.client.files.remove(env.id, path, { recursive: flags.recursive === true });
    if (s.json) return printJson(r);
    line(`deleted ${path} (${r.removed} ${r.removed === 1 ? 'entry' : 'entries'})`);
  });

  withApi(
    org(
      files
        .command('mkdir')
        .description('create a directory (its parent must exist)')
        .argument('<site>', 'site name or id')
        .argument('<env-and-path...>', '[env] <path>'),
    ),
  ).action(async (siteRef: string, rest: string[], flags: Flags) => {
    const s = session(flags);
    const { envRef, path } = envAndPath(rest);
    const { env } = await resolveEnvironment(s.client, siteRef, envRef, flags.org as string | undefined);
    const e = await s.client.files.mkdir(env.id, path);
    if (s.json) return printJson(e);
    line(`created ${path}/`);
  });
}
