import { spawn } from 'node:child_process';
import { ToolError } from './errors.js';

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program with `input` on its stdin and collects its output; `notFound` words a missing program. */
export function runWithInput(
  command: string,
  args: readonly string[],
  input: string,
  options: { cwd?: string; env?: NodeJS.ProcessEnv; notFound: () => Error },
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? options.notFound()
          : new ToolError(`cannot start ${command}: ${error.message}`),
      ),
    );
    child.on('close', (code) =>
      resolve({
        code,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      }),
    );
    child.stdin.on('error', () => {}); // reported through 'close' or 'error'
    child.stdin.end(input);
  });
}
