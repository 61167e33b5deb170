import { ToolError } from '../errors.js';
import { runProcess } from '../process.js';

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
  const { stdout, stderr, code } = await runProcess(python, [POLICY_SCRIPT, '--stdin'], {
    input,
    notFound: () =>
      new ToolError(`Python not found at "${python}"; install python3 or set AXIOM_PYTHON to an interpreter`),
  });
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
