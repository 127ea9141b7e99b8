import { spawn } from 'node:child_process';
import { RUNTIME_ERROR_CODES, TriplaneError } from './errors.ts';

/**
 * Thin adapter over child_process.spawn: no shell, argv only, output captured (and
 * optionally streamed line by line). Non-zero exit throws TRIPLANE_ERR_COMMAND_FAILED
 * unless `allowFailure` is set.
 *
 * Example:
 *   const { stdout } = await run('podman', ['image', 'exists', tag], { allowFailure: true });
 */
export interface RunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  allowFailure?: boolean;
  /** Called for each complete output line (stdout and stderr interleaved). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Keep only the last N bytes of each stream (long builds). Default 4 MiB. */
  maxBuffer?: number;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const max = opts.maxBuffer ?? 4 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const partial = { stdout: '', stderr: '' };
    let timedOut = false;
    const timer =
      opts.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, opts.timeoutMs)
        : undefined;
    const onData = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const s = chunk.toString('utf8');
      if (stream === 'stdout') stdout = (stdout + s).slice(-max);
      else stderr = (stderr + s).slice(-max);
      if (opts.onLine) {
        const lines = (partial[stream] + s).split('\n');
        partial[stream] = lines.pop() ?? '';
        for (const l of lines) opts.onLine(l, stream);
      }
    };
    child.stdout.on('data', onData('stdout'));
    child.stderr.on('data', onData('stderr'));
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(
        new TriplaneError(
          RUNTIME_ERROR_CODES.commandFailed,
          `cannot start ${cmd}: ${err.message}`,
          { cmd, args },
          { cause: err },
        ),
      );
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (opts.onLine) {
        if (partial.stdout) opts.onLine(partial.stdout, 'stdout');
        if (partial.stderr) opts.onLine(partial.stderr, 'stderr');
      }
      if (timedOut) {
        reject(
          new TriplaneError(RUNTIME_ERROR_CODES.commandTimeout, `${cmd} ${args.join(' ')} timed out after ${opts.timeoutMs} ms`, {
            cmd,
            args,
          }),
        );
        return;
      }
      const exit = code ?? (signal ? 128 : 1);
      if (exit !== 0 && !opts.allowFailure) {
        const tail = (stderr.trim() || stdout.trim()).split('\n').slice(-15).join('\n');
        reject(
          new TriplaneError(RUNTIME_ERROR_CODES.commandFailed, `${cmd} ${args.join(' ')} exited ${exit}: ${tail}`, {
            cmd,
            args,
            exit,
            stderr: stderr.slice(-8192),
          }),
        );
        return;
      }
      resolve({ code: exit, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}
