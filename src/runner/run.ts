import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderWorkunitInput, type WorkunitInput } from '../boinc/wu.js';
import { ToolError, UsageError } from '../errors.js';
import { sha256File } from '../hash.js';
import type { ParamValue } from '../manifest/types.js';
import type { Problem } from '../problems.js';
import type { SchemaValidator } from '../schema/validate.js';
import { parseYaml } from '../yaml/document.js';
import { RESULT_FILE, type ResultEnvelope } from './envelope.js';

export const CLIENT_SCRIPT = new URL('../../scripts/axiom_client.py', import.meta.url).pathname;
const CLIENT_RESULT = 'axiom_result.json';

export interface RunRequest {
  /** Absolute path of the experiment script. */
  script: string;
  experiment: string;
  budgetSeconds: number;
  seed: number;
  cpus: number;
  params: Record<string, ParamValue>;
  wuName: string;
  python: string;
  /** Absolute path of the working directory; created, and must be empty if it exists. */
  workdir: string;
  /** Seconds past the budget before the script is stopped, and between terminate and kill. */
  graceSeconds?: number;
  killAfterSeconds?: number;
  /** Called about once a second with the seconds elapsed. */
  onTick?: (elapsedSeconds: number) => void;
}

export type RunStatus =
  | 'ok'
  | 'failed'
  | 'overran'
  | 'no-result'
  | 'invalid-result'
  | 'rejected-script'
  | 'download-failed';

export interface RunOutcome {
  status: RunStatus;
  message: string;
  exitCode: number | null;
  elapsedSeconds: number;
  stderrTail: string;
  workdir: string;
  envelope?: ResultEnvelope;
  /** Why the envelope is not valid (schema, or not matching what was run). */
  problems: Problem[];
}

/** What the reference client writes for BOINC to upload. */
interface ClientReport {
  status: RunStatus;
  message: string;
  exit_code: number | null;
  elapsed_seconds: number;
  stderr_tail: string;
}

/**
 * Runs an experiment exactly as a volunteer host would: the reference client reads a wu.json that
 * points at the script, checks its hash, runs it under the hard time limit, and writes its report;
 * then the result envelope is validated against the schema and against what was asked for.
 */
export async function runExperiment(request: RunRequest, validator: SchemaValidator): Promise<RunOutcome> {
  prepareWorkdir(request.workdir);
  const grace = request.graceSeconds ?? 2;
  const killAfter = request.killAfterSeconds ?? 3;
  writeFileSync(join(request.workdir, 'wu.json'), renderWorkunitInput(localWorkunitInput(request)));
  const args = [
    CLIENT_SCRIPT,
    '--wu',
    join(request.workdir, 'wu.json'),
    '--out',
    join(request.workdir, CLIENT_RESULT),
    '--workdir',
    request.workdir,
    '--grace',
    String(grace),
    '--kill-after',
    String(killAfter),
    '--allow-file-urls',
  ];
  // The client enforces the limit; this outer one only guards against the client itself hanging.
  const outerLimit = request.budgetSeconds + grace + killAfter + 15;
  const clientExit = await runClient(request.python, args, outerLimit, request.onTick);
  const reportPath = join(request.workdir, CLIENT_RESULT);
  if (!existsSync(reportPath)) {
    throw new ToolError(
      `the volunteer client wrote no report (exit ${clientExit.code})`,
      clientExit.stderr.trim(),
    );
  }
  const report = JSON.parse(readFileSync(reportPath, 'utf8')) as ClientReport;
  const outcome: RunOutcome = {
    status: report.status,
    message: report.message,
    exitCode: report.exit_code,
    elapsedSeconds: report.elapsed_seconds,
    stderrTail: report.stderr_tail,
    workdir: request.workdir,
    problems: [],
  };
  return report.status === 'ok' ? validateEnvelope(outcome, request, validator) : outcome;
}

function prepareWorkdir(workdir: string): void {
  if (existsSync(workdir) && readdirSync(workdir).length > 0) {
    throw new UsageError(`${workdir} is not empty; pass a new or empty directory`);
  }
  mkdirSync(workdir, { recursive: true });
}

/** wu.json pointing at the local script. */
function localWorkunitInput(request: RunRequest): WorkunitInput {
  return {
    mode: 'experiment',
    experiment: request.experiment,
    wu_name: request.wuName,
    script_url: pathToFileURL(request.script).href,
    script_sha256: sha256File(request.script),
    run_duration: request.budgetSeconds,
    seed: request.seed,
    params: request.params,
    cpus: request.cpus,
  };
}

function runClient(
  python: string,
  args: string[],
  limitSeconds: number,
  onTick?: (elapsed: number) => void,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(python, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-8000);
    });
    const ticker = setInterval(() => onTick?.((Date.now() - started) / 1000), 1000);
    const guard = setTimeout(() => child.kill('SIGKILL'), limitSeconds * 1000);
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearInterval(ticker);
      clearTimeout(guard);
      reject(
        error.code === 'ENOENT'
          ? new ToolError(`Python not found at "${python}"; install python3-numpy or set AXIOM_PYTHON`)
          : error,
      );
    });
    child.on('close', (code) => {
      clearInterval(ticker);
      clearTimeout(guard);
      resolve({ code, stderr });
    });
  });
}

function validateEnvelope(outcome: RunOutcome, request: RunRequest, validator: SchemaValidator): RunOutcome {
  const { document, problems } = parseYaml(
    RESULT_FILE,
    readFileSync(join(request.workdir, RESULT_FILE), 'utf8'),
  );
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
    if (envelope.experiment !== request.experiment)
      all.push(mismatch('experiment', `must be "${request.experiment}"; found "${envelope.experiment}"`));
    if (envelope.seed !== request.seed)
      all.push(mismatch('seed', `must echo the seed it was given (${request.seed}); found ${envelope.seed}`));
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
  const result = await new Promise<{ code: number | null; error?: NodeJS.ErrnoException }>((resolve) => {
    const child = spawn(python, ['-c', 'import numpy'], { stdio: 'ignore' });
    child.on('error', (error: NodeJS.ErrnoException) => resolve({ code: null, error }));
    child.on('close', (code) => resolve({ code }));
  });
  if (result.error?.code === 'ENOENT') {
    throw new ToolError(
      `Python not found at "${python}"; install python3-numpy or set AXIOM_PYTHON to an interpreter with numpy`,
    );
  }
  if (result.code !== 0) {
    throw new ToolError(
      `${python} cannot import numpy; install python3-numpy (Debian) or set AXIOM_PYTHON to an interpreter with numpy`,
    );
  }
}
