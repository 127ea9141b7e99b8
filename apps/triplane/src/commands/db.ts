import type { Command } from 'commander';
import { type Flags, intArg, withApi } from '../cli/command.ts';
import { session } from '../cli/context.ts';
import { fields, line, note, printJson, table } from '../cli/output.ts';
import { resolveEnvironment } from '../cli/resolve.ts';
import { envAndPath, size } from './files.ts';

/** `triplane db tables|rows <site> [env] …`: the read-only database browser. */
export function registerDb(program: Command): void {
  const db = program.command('db').description("browse a site's database (read-only): tables, rows");
  withApi(
    db
      .command('tables')
      .description('the tables with estimated rows and sizes')
      .argument('<site>', 'site name or id')
      .argument('[env]', 'environment name (default production)')
      .option('--org <org>', 'organization (when the site name is not unique)'),
  ).action(async (siteRef: string, envRef: string | undefined, flags: Flags) => {
    const s = session(flags);
    const { env } = await resolveEnvironment(s.client, siteRef, envRef, flags.org as string | undefined);
    const r = await s.client.db.tables(env.id);
    if (s.json) return printJson(r);
    table(r.tables, [
      ['table', (t) => t.name],
      ['rows (est.)', (t) => t.rowsEstimate],
      ['size', (t) => size(t.bytes)],
      ['engine', (t) => t.engine],
    ]);
  });

  withApi(
    db
      .command('rows')
      .description('a page of rows of a table (values cut to 1 KB, secrets masked)')
      .argument('<site>', 'site name or id')
      .argument('<env-and-table...>', '[env] <table>')
      .option('--offset <n>', 'rows to skip', intArg('--offset', 0, 1_000_000_000), 0)
      .option('--limit <n>', 'rows to show (≤ 200)', intArg('--limit', 1, 200), 20)
      .option('--org <org>', 'organization (when the site name is not unique)'),
  ).action(async (siteRef: string, rest: string[], flags: Flags) => {
    const s = session(flags);
    const { envRef, path: tableName } = envAndPath(rest, 'table');
    const { env } = await resolveEnvironment(s.client, siteRef, envRef, flags.org as string | undefined);
    const p = await s.client.db.rows(env.id, tableName, { offset: flags.offset as number, limit: flags.limit as number });
    if (s.json) return printJson(p);
    if (p.rows.length === 0) return line(`no rows at offset ${p.offset}`);
    if (p.columns.length > 6) {
      // wide tables: one block per row
      p.rows.forEach((r, i) => {
        if (i) line();
        fields(p.columns.map((c, ci) => [c.name, r[ci] ?? 'NULL']));
      });
    } else {
      table(
        p.rows,
        p.columns.map((c, ci) => [c.name, (r: (string | number | null)[]) => (r[ci] === null ? 'NULL' : r[ci])]),
      );
    }
    const notes = [
      `rows ${p.offset + 1}–${p.offset + p.rows.length}`,
      p.truncated.length ? `${p.truncated.length} value(s) cut to 1 KB` : '',
      p.masked.length ? `masked: ${p.masked.join(', ')}` : '',
    ].filter(Boolean);
    note(`(${notes.join('; ')})`);
  });
}
