import { spawn } from 'node:child_process';
import { ToolError } from '../errors.js';

export const POLICY_SCRIPT = new URL('../../scripts/policy_check.py', import.meta.url).pathname;

export interface PolicyFinding {
  line: number;
  col: number;
  rule: string;
  message: string;
}

export interface PolicyRequest {
  /** Absolute path of the script. */
  path: string;
  /** Whether the script's manifest asks for a GPU, which allows CuPy. */
  allowCupy: boolean;
}

/** Checks all scripts with one Python process; returns the findings per absolute path. */
export async function checkScriptPolicy(
  python: string,
  requests: readonly PolicyRequest[],
): Promise<Map<string, PolicyFinding[]>> {
  if (requests.length === 0) return new Map();
  const input = JSON.stringify({ files: requests.map((r) => ({ path: r.path, allow_cupy: r.allowCupy })) });
  const { stdout, stderr, code } = await runWithInput(python, [POLICY_SCRIPT, '--stdin'], input);
  if (code !== 0) {
    throw new ToolError(`the script policy checker failed (exit ${code}) under ${python}`, stderr.trim());
  }
  let parsed: { results: { path: string; findings: PolicyFinding[] }[] };
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new ToolError(
      `the script policy checker printed something other than JSON under ${python}`,
      stdout.slice(0, 500),
    );
  }
  return new Map(parsed.results.map((r) => [r.path, r.findings]));
}

function runWithInput(
  command: string,
  args: string[],
  input: string,
): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new ToolError(
              `Python not found at "${command}"; install python3 or set AXIOM_PYTHON to an interpreter`,
            )
          : new ToolError(`cannot start ${command}: ${error.message}`),
      );
    });
    child.on('close', (code) =>
      resolve({
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        code,
      }),
    );
    child.stdin.on('error', () => {}); // reported through 'close' or 'error'
    child.stdin.end(input);
  });
}
