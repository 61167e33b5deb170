import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RESULT_FILE, type ResultEnvelope } from '../envelope/envelope.js';
import {
  CLIENT_REPORT_FILE,
  type ClientStatus,
  type Isolation,
  readClientReportFile,
} from '../envelope/report.js';
import { ToolError, UsageError } from '../errors.js';
import { sha256File } from '../hash.js';
import type { ParamValue } from '../manifest/types.js';
import type { Problem } from '../problems.js';
import { runProcess } from '../process.js';
import type { SchemaValidator } from '../schema/validate.js';
import { renderWorkunitInput, WORKUNIT_INPUT_FILE, type WorkunitInput } from '../workunit/input.js';
import { WorkunitName } from '../workunit/name.js';
import { parseYaml } from '../yaml/document.js';

export const CLIENT_SCRIPT = new URL('../../scripts/axiom_client.py', import.meta.url).pathname;

export interface RunRequest {
  /** What to run, exactly as a volunteer's client receives it. */
  input: WorkunitInput;
  python: string;
  /**
   * Absolute path of the run's own directory (a slot, as BOINC gives the client one); created, and must
   * be empty if it exists. wu.json and the client's report go there, out of the script's reach; the
   * script works in the sandbox's own directory.
   */
  slot: string;
  /** Copy what the script left into `<slot>/run` after the run (regular files only). */
  keepFiles?: boolean;
  /** Cores the BOINC client grants the task (its --nthreads); the script gets at most these. */
  grantedCpus?: number;
  /** Seconds past the budget before the script is stopped, and between terminate and kill. */
  graceSeconds?: number;
  killAfterSeconds?: number;
  /** Called about once a second with the seconds elapsed. */
  onTick?: (elapsedSeconds: number) => void;
  /**
   * For calibration and tests: run numpy on the BLAS in this root-owned system directory (the
   * client's --blas-dir), as a host with that BLAS would; never set for a volunteer's workunit.
   */
  blasDir?: string;
}

/** Debian's OpenBLAS (libopenblas0-pthread), which the tests and benchmarks select per run. */
export const DEBIAN_OPENBLAS_DIR = '/usr/lib/x86_64-linux-gnu/openblas-pthread';

export type RunStatus = ClientStatus | 'unknown';

export interface RunOutcome {
  status: RunStatus;
  message: string;
  exitCode: number | null;
  elapsedSeconds: number;
  /** The most resident memory the run's processes held together (Linux). */
  peakMemoryMb?: number;
  stderrTail: string;
  isolation?: Isolation;
  /** `<slot>/run`: what the script left there, with keepFiles. */
  workdir: string;
  /** The client's report file, as BOINC would upload it. */
  reportFile: string;
  /** What the client wrote to stderr: what BOINC sends the project as result.stderr_out. */
  clientStderr: string;
  envelope?: ResultEnvelope;
  /** Why the envelope is not valid (schema, or not matching what was run). */
  problems: Problem[];
}

/** A workunit for a script on this machine (host 0: no BOINC host), as `axiom run` and smoke runs use. */
export function localWorkunit(options: {
  script: string;
  experiment: string;
  budgetSeconds: number;
  seed: number;
  cpus: number;
  memoryGb: number;
  params: Record<string, ParamValue>;
}): WorkunitInput {
  const scriptSha256 = sha256File(options.script);
  return {
    mode: 'experiment',
    experiment: options.experiment,
    wu_name: WorkunitName.format({
      experiment: options.experiment,
      scriptSha: scriptSha256,
      host: 0,
      replica: 0,
    }),
    script_url: pathToFileURL(options.script).href,
    script_sha256: scriptSha256,
    run_duration: options.budgetSeconds,
    seed: options.seed,
    params: options.params,
    cpus: options.cpus,
    memory_gb: options.memoryGb,
  };
}

/**
 * Runs a workunit exactly as a volunteer host would: the reference client reads the wu.json, checks
 * the script's hash, runs it under the hard time limit, and writes its report; then the result
 * envelope is validated against the schema and against what was asked for.
 */
export async function runWorkunit(request: RunRequest, validator: SchemaValidator): Promise<RunOutcome> {
  prepareSlot(request.slot);
  const grace = request.graceSeconds ?? 2;
  const killAfter = request.killAfterSeconds ?? 3;
  const wuFile = join(request.slot, WORKUNIT_INPUT_FILE);
  writeFileSync(wuFile, renderWorkunitInput(request.input, validator));
  const reportFile = join(request.slot, CLIENT_REPORT_FILE);
  const workdir = join(request.slot, 'run');
  const args = [
    CLIENT_SCRIPT,
    '--wu',
    wuFile,
    '--out',
    reportFile,
    '--workdir',
    workdir,
    ...(request.keepFiles ? ['--keep'] : []),
    '--grace',
    String(grace),
    '--kill-after',
    String(killAfter),
    '--allow-file-urls',
    // Every script we run is someone else's until a volunteer has run it: never outside the sandbox.
    '--require-sandbox',
    ...(request.grantedCpus ? ['--nthreads', String(request.grantedCpus)] : []),
    ...(request.blasDir ? ['--blas-dir', request.blasDir] : []),
  ];
  // The client enforces the limit; this outer one only guards against the client itself hanging.
  const outerLimit = request.input.run_duration + grace + killAfter + 15;
  const client = await runProcess(request.python, args, {
    cwd: request.slot,
    timeoutMs: outerLimit * 1000,
    // The client names the BLAS its own numpy loaded: the same one the script gets.
    ...(request.blasDir ? { env: { ...process.env, LD_LIBRARY_PATH: request.blasDir } } : {}),
    keepChars: 64 * 1024,
    ...(request.onTick ? { onTick: request.onTick } : {}),
    notFound: () =>
      new ToolError(`Python not found at "${request.python}"; install python3-numpy or set AXIOM_PYTHON`),
  });
  if (!existsSync(reportFile))
    throw new ToolError(`the volunteer client wrote no report (exit ${client.code})`, client.stderr.trim());
  const read = readClientReportFile(reportFile);
  if ('reason' in read) throw new ToolError(`the volunteer client's report is unusable: ${read.reason}`);
  const { report } = read;
  const outcome: RunOutcome = {
    status: report.status,
    message: report.message,
    exitCode: report.exitCode,
    elapsedSeconds: report.elapsedSeconds ?? 0,
    ...(report.peakMemoryMb !== undefined ? { peakMemoryMb: report.peakMemoryMb } : {}),
    stderrTail: report.stderrTail,
    ...(report.isolation ? { isolation: report.isolation } : {}),
    workdir,
    reportFile,
    clientStderr: client.stderr,
    problems: [],
  };
  return report.status === 'ok'
    ? validateEnvelope(outcome, report.envelope, request.input, validator)
    : outcome;
}

function prepareSlot(slot: string): void {
  if (existsSync(slot) && readdirSync(slot).length > 0) {
    throw new UsageError(`${slot} is not empty; pass a new or empty directory`);
  }
  mkdirSync(slot, { recursive: true });
}

/**
 * The envelope as the client read it from the script's working directory (bounded, never through a
 * link) and put it into its report: what the script left there is never read again by path.
 */
function validateEnvelope(
  outcome: RunOutcome,
  raw: unknown,
  input: WorkunitInput,
  validator: SchemaValidator,
): RunOutcome {
  const { document, problems } = parseYaml(RESULT_FILE, JSON.stringify(raw ?? null));
  const all = document ? [...problems, ...validator.validate('result', document)] : problems;
  if (document && all.length === 0) {
    const envelope = document.data as ResultEnvelope;
    const mismatch = (path: string, message: string): Problem => ({
      file: RESULT_FILE,
      ...document.locate([path]),
      path,
      rule: 'envelope',
      message,
      severity: 'error',
    });
    if (envelope.experiment !== input.experiment)
      all.push(mismatch('experiment', `must be "${input.experiment}"; found "${envelope.experiment}"`));
    if (envelope.seed !== input.seed)
      all.push(mismatch('seed', `must echo the seed it was given (${input.seed}); found ${envelope.seed}`));
    if (all.length === 0) return { ...outcome, envelope };
  }
  return {
    ...outcome,
    status: 'invalid-result',
    message: `${RESULT_FILE} does not match the result envelope`,
    problems: all,
  };
}

/** Fails clearly when the interpreter cannot import numpy. */
export async function requireNumpy(python: string): Promise<void> {
  const result = await runProcess(python, ['-c', 'import numpy'], {
    notFound: () =>
      new ToolError(
        `Python not found at "${python}"; install python3-numpy or set AXIOM_PYTHON to an interpreter with numpy`,
      ),
  });
  if (result.code !== 0) {
    throw new ToolError(
      `${python} cannot import numpy; install python3-numpy (Debian) or set AXIOM_PYTHON to an interpreter with numpy`,
    );
  }
}
