import { spawn } from 'node:child_process';
import { ToolError } from './errors.js';

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** True when the process was killed for running past `timeoutMs`. */
  timedOut: boolean;
}

export interface ProcessOptions {
  /** Written to stdin, which is then closed; without it stdin is /dev/null. */
  input?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill (SIGKILL) after this long. */
  timeoutMs?: number;
  /** Keep at most this many characters of each stream, the last ones (default: all). */
  keepChars?: number;
  /** Called about once a second with the seconds elapsed. */
  onTick?: (elapsedSeconds: number) => void;
  /** The error for a program that does not exist. */
  notFound: () => Error;
}

/** Runs a program and collects its output: the one way Axiom Lab starts another program. */
export function runProcess(
  command: string,
  args: readonly string[],
  options: ProcessOptions,
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const keep = options.keepChars ?? Number.POSITIVE_INFINITY;
    const output = { stdout: '', stderr: '' };
    const collect = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      output[stream] += chunk.toString('utf8');
      if (output[stream].length > keep * 2) output[stream] = output[stream].slice(-keep);
    };
    child.stdout?.on('data', collect('stdout'));
    child.stderr?.on('data', collect('stderr'));
    let timedOut = false;
    const guard =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, options.timeoutMs);
    const ticker = options.onTick
      ? setInterval(() => options.onTick?.((Date.now() - started) / 1000), 1000)
      : undefined;
    const stopTimers = () => {
      clearTimeout(guard);
      clearInterval(ticker);
    };
    child.on('error', (error: NodeJS.ErrnoException) => {
      stopTimers();
      reject(
        error.code === 'ENOENT'
          ? options.notFound()
          : new ToolError(`cannot start ${command}: ${error.message}`),
      );
    });
    child.on('close', (code) => {
      stopTimers();
      const cut = (text: string) => (text.length > keep ? text.slice(-keep) : text);
      resolve({ code, stdout: cut(output.stdout), stderr: cut(output.stderr), timedOut });
    });
    if (child.stdin) {
      child.stdin.on('error', () => {}); // reported through 'close' or 'error'
      child.stdin.end(options.input);
    }
  });
}
