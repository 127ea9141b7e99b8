#!/usr/bin/env node
/**
 * The `triplane` command: runs the platform on this machine (`init`, `control`, `up`) and
 * manages it over the API (`site`, `env`, `domain`, `job`, `audit`, `org`, `member`, `token`,
 * `server`, `login`). Exit codes are in cli/exit.ts and docs/cli.md.
 */
import { Command, CommanderError } from 'commander';
import { describeFailure, EXIT } from './cli/exit.ts';
import { registerAudit } from './commands/audit.ts';
import { registerBackup, registerSync } from './commands/backup.ts';
import { registerDb } from './commands/db.ts';
import { registerDomain } from './commands/domain.ts';
import { registerEdge } from './commands/edge.ts';
import { registerEnv } from './commands/env.ts';
import { registerEnvLogs } from './commands/env-logs.ts';
import { registerEnvProtect } from './commands/env-protect.ts';
import { registerFiles } from './commands/files.ts';
import { registerJob } from './commands/job.ts';
import { registerLocal } from './commands/local.ts';
import { registerLogin } from './commands/login.ts';
import { registerMember, registerOrg } from './commands/org.ts';
import { registerRuntime } from './commands/runtime.ts';
import { registerServer } from './commands/server.ts';
import { registerSite } from './commands/site.ts';
import { registerToken } from './commands/token.ts';

export const VERSION = '0.1.0';

export function buildProgram(): Command {
  const program = new Command('triplane')
    .description('Triplane: self-hosted managed hosting for PHP sites')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(s.startsWith('error:') ? `triplane: ${s}` : s) });
  registerLocal(program);
  registerRuntime(program);
  registerEdge(program);
  registerLogin(program);
  registerSite(program);
  registerEnv(program);
  registerEnvLogs(program);
  registerEnvProtect(program);
  registerBackup(program);
  registerSync(program);
  registerDomain(program);
  registerJob(program);
  registerAudit(program);
  registerOrg(program);
  registerMember(program);
  registerToken(program);
  registerServer(program);
  registerFiles(program);
  registerDb(program);
  return program;
}

/** Run with `argv` (as process.argv: node, script, args…); resolves with the exit code. */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and --version "fail" with exit code 0; everything else commander rejects is usage.
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const { exitCode, line } = describeFailure(e);
    process.stderr.write(`triplane: ${line}\n`);
    if (process.env.TRIPLANE_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return exitCode;
  }
}

if (import.meta.main) {
  const code = await run(process.argv);
  // Exit explicitly: idle keep-alive sockets must not hold a finished command open.
  process.exit(code);
}
