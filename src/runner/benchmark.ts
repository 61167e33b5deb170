import { ToolError } from '../errors.js';
import { blasFamily } from '../fleet/blas.js';
import type { BlasFamily } from '../fleet/types.js';
import { runProcess } from '../process.js';

export const BENCHMARK_SCRIPT = new URL('../../scripts/axiom_benchmark.py', import.meta.url).pathname;

/** This machine as a volunteer host would report it: its speed per core in BOINC's units, and its BLAS. */
export interface MachineBenchmark {
  /** Floating-point operations a second per core, in the measure the work models use (p_fpops). */
  fpops: number;
  cores: number;
  /** The BLAS numpy loads here, as the volunteer client names it, and its family. */
  blasLibrary?: string;
  blas?: BlasFamily;
}

/**
 * Measures this machine now, on `cores` cores at once (scripts/axiom_benchmark.py): a machine busy
 * with other work measures slower, so the work planned from it fits the time it has.
 */
export async function measureMachine(
  python: string,
  cores: number,
  blasDir?: string,
): Promise<MachineBenchmark> {
  const run = await runProcess(python, [BENCHMARK_SCRIPT, String(cores)], {
    timeoutMs: 120_000,
    ...(blasDir ? { env: { ...process.env, LD_LIBRARY_PATH: blasDir } } : {}),
    notFound: () =>
      new ToolError(`Python not found at "${python}"; install python3-numpy or set AXIOM_PYTHON`),
  });
  let parsed: { fpops?: unknown; blas?: unknown };
  try {
    parsed = JSON.parse(run.stdout) as { fpops?: unknown; blas?: unknown };
  } catch {
    throw new ToolError(`the machine benchmark failed (exit ${run.code})`, run.stderr.trim());
  }
  if (typeof parsed.fpops !== 'number' || !Number.isFinite(parsed.fpops) || parsed.fpops <= 0)
    throw new ToolError('the machine benchmark reported no speed', run.stdout.trim());
  const library = typeof parsed.blas === 'string' ? parsed.blas : undefined;
  const family = blasFamily(library);
  return {
    fpops: parsed.fpops,
    cores,
    ...(library ? { blasLibrary: library } : {}),
    ...(family ? { blas: family } : {}),
  };
}
