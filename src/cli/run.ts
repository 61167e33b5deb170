import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import { basename, join, resolve } from 'node:path';
import {
  checkDeclaredMetrics,
  checkDeclaredSeries,
  describeCheck,
  evaluateAcceptance,
  evaluatePreconditions,
  judgeOutcome,
} from '../envelope/acceptance.js';
import { InvalidInputError, UsageError } from '../errors.js';
import type { Host } from '../fleet/types.js';
import { memoryGbFor } from '../manifest/fit.js';
import { parseManifest } from '../manifest/load.js';
import { isExperimentName } from '../manifest/name.js';
import type { Manifest, ParamValue, Target } from '../manifest/types.js';
import { checkScriptPolicy } from '../policy/policy.js';
import { formatProblem } from '../problems.js';
import { measureMachine } from '../runner/benchmark.js';
import {
  DEBIAN_OPENBLAS_DIR,
  localWorkunit,
  type RunOutcome,
  requireNumpy,
  runWorkunit,
} from '../runner/run.js';
import { SchemaValidator } from '../schema/validate.js';
import { planOnHost, seedFor } from '../workunit/plan.js';
import {
  booleanOption,
  defineCommand,
  type Io,
  numberOption,
  type ParsedArgs,
  stringOption,
} from './command.js';
import { createProgress } from './progress.js';

const DEFAULT_BUDGET = 60;
/** Memory a bare script may use when no manifest says. */
const DEFAULT_MEMORY_GB = 2;

const runOptions = {
  budget: {
    type: 'string',
    value: 'S',
    description: `seconds the script may run (default: the manifest's run_duration, else ${DEFAULT_BUDGET})`,
  },
  seed: { type: 'string', value: 'N', description: "seed (default: the manifest's first seed, else 0)" },
  cpus: {
    type: 'string',
    value: 'N',
    description: 'cores handed to the script (default: all of this machine, capped by max_cpus)',
  },
  params: {
    type: 'string',
    value: 'JSON',
    description:
      "params object, run as given (default with a manifest: its target's params with the work the planner sizes for this machine; without one, {})",
  },
  fpops: {
    type: 'string',
    value: 'N',
    description:
      "with a manifest: the benchmark (operations a second per core) to plan this machine's work for (default: measured now)",
  },
  blas: {
    type: 'string',
    value: 'NAME',
    description: `for tests and calibration: openblas runs numpy on Debian's OpenBLAS (${DEBIAN_OPENBLAS_DIR}) for this run only; default: the system's BLAS`,
  },
  target: {
    type: 'string',
    value: 'HOST',
    description: 'with a manifest: take the params of this target host',
  },
  out: {
    type: 'string',
    value: 'DIR',
    description:
      "keep the run at DIR (new or empty): the client's report, and in DIR/run what the script left (regular files)",
  },
  root: {
    type: 'string',
    value: 'DIR',
    description: "repository root for a manifest's script path (default: the current directory)",
  },
  strict: {
    type: 'boolean',
    description: 'exit 1 when a declared metric is missing or an acceptance check fails',
  },
  'skip-policy': {
    type: 'boolean',
    description: 'run even if the script fails the script policy (trusted scripts only)',
  },
  json: { type: 'boolean', description: 'print the outcome as JSON' },
  quiet: { type: 'boolean', short: 'q', description: 'no progress on stderr' },
} as const;
type RunArgs = ParsedArgs<typeof runOptions>;

interface RunTarget {
  script: string;
  experiment: string;
  manifest?: Manifest;
  manifestFile?: string;
  /** The manifest's target whose params are run. */
  target?: Target;
  budget: number;
  seed: number;
  cpus: number;
  /** Undefined when the planner is to size them, as deploy does. */
  params?: Record<string, ParamValue>;
  plannedSeconds?: number;
  /** Why the work is what it is, when the planner sized it. */
  planned?: string;
}

export const runCommand = defineCommand({
  name: 'run',
  summary: 'run an experiment as a volunteer would, under its time limit, and check its result',
  usage: '<script.py | manifest.yaml>',
  description: [
    'Runs one experiment exactly as a volunteer host would: the reference client (scripts/axiom_client.py)',
    'runs the script in a fresh working directory with AXIOM_RUN_DURATION, AXIOM_SEED, AXIOM_PARAMS,',
    'AXIOM_WU_NAME and AXIOM_CPUS set, stops it at the budget plus a short grace, and the result',
    'envelope (experiment_result.json) is validated. Given a manifest, its budget, first seed and the',
    "first target's params are the defaults, the workunit is built through the planner as deploy builds",
    "it (the work sized from this machine's benchmark, measured now on the cores the run gets, and its",
    'BLAS; --params runs params as given), and the result is checked against the declared metrics,',
    'series, preconditions and acceptance checks. The script must pass the script policy first.',
    'Exit status: 0 ok; 1 the script failed, overran or wrote no valid result (or, with --strict,',
    'failed an acceptance check); 2 usage errors.',
  ].join('\n'),
  options: runOptions,
  async run(args, { io, env }) {
    const [path, ...extra] = args.positionals;
    if (!path || extra.length > 0)
      throw new UsageError('give exactly one script (.py) or manifest (.yaml)', 'run');
    const validator = new SchemaValidator();
    const target = resolveTarget(args, io, resolve(io.cwd, path), validator);
    const blasDir = blasDirOf(stringOption(args, 'blas'));
    const fpops = numberOption(args, 'run', 'fpops', { min: 1 });
    const python = env.python;
    await requireNumpy(python);
    if (!booleanOption(args, 'skip-policy')) await enforcePolicy(python, target);
    if (target.manifest && target.params === undefined)
      await planLocally(
        target,
        python,
        fpops,
        blasDir,
        (line) => io.stderr.write(`${line}\n`),
        !booleanOption(args, 'quiet'),
      );
    const params = target.params ?? {};

    const out = stringOption(args, 'out');
    const slot = out ? resolve(io.cwd, out) : mkdtempSync(join(tmpdir(), 'axiom-run-'));
    const progress = createProgress(io, !booleanOption(args, 'quiet'));
    const every = Math.max(10, Math.round(target.budget / 10));
    progress.update(
      `running ${target.experiment}: budget ${target.budget} s, seed ${target.seed}, ${target.cpus} cpus`,
    );
    try {
      const outcome = await runWorkunit(
        {
          input: localWorkunit({
            script: target.script,
            experiment: target.experiment,
            budgetSeconds: target.budget,
            seed: target.seed,
            cpus: target.cpus,
            memoryGb: target.manifest
              ? memoryGbFor(target.manifest.resources, target.cpus)
              : DEFAULT_MEMORY_GB,
            params,
          }),
          python,
          slot,
          keepFiles: out !== undefined,
          ...(blasDir ? { blasDir } : {}),
          onTick: (elapsed) => {
            if (io.isTTY || Math.round(elapsed) % every === 0) {
              progress.update(`running ${target.experiment}: ${Math.round(elapsed)} s of ${target.budget} s`);
            }
          },
        },
        validator,
      );
      progress.done();
      return report(outcome, target, io, args);
    } finally {
      if (!out) rmSync(slot, { recursive: true, force: true });
    }
  },
});

function resolveTarget(args: RunArgs, io: Io, path: string, validator: SchemaValidator): RunTarget {
  const options = {
    budget: numberOption(args, 'run', 'budget', { min: 1 }),
    seed: numberOption(args, 'run', 'seed', { min: 0, integer: true }),
    cpus: numberOption(args, 'run', 'cpus', { min: 1, integer: true }),
    params: parseParams(stringOption(args, 'params')),
    target: numberOption(args, 'run', 'target', { min: 1, integer: true }),
  };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new UsageError(`${path}: no such file`, 'run');
  }
  if (path.endsWith('.py')) {
    const experiment = basename(path, '.py');
    if (!isExperimentName(experiment))
      throw new UsageError(
        `script name "${experiment}" must be 3 to 48 lowercase letters, digits or underscores, starting with a letter`,
        'run',
      );
    if (options.target !== undefined) throw new UsageError('--target needs a manifest', 'run');
    return {
      script: path,
      experiment,
      budget: options.budget ?? DEFAULT_BUDGET,
      seed: options.seed ?? 0,
      cpus: options.cpus ?? availableParallelism(),
      params: options.params ?? {},
    };
  }
  if (!/\.ya?ml$/.test(path)) throw new UsageError('expected a script (.py) or a manifest (.yaml)', 'run');
  const loaded = parseManifest(basename(path), text, validator);
  if (!loaded.manifest) throw new InvalidInputError(`${path} is not a valid manifest`, loaded.problems);
  const manifest = loaded.manifest;
  const chosen =
    options.target === undefined
      ? manifest.targets[0]
      : manifest.targets.find((t) => t.host === options.target);
  if (!chosen)
    throw new UsageError(
      `host ${options.target} is not a target of ${manifest.name}; targets: ${manifest.targets.map((t) => t.host).join(', ')}`,
      'run',
    );
  const available = availableParallelism();
  return {
    script: resolve(io.cwd, stringOption(args, 'root') ?? '.', manifest.script),
    experiment: manifest.name,
    manifest,
    manifestFile: path,
    budget: options.budget ?? manifest.run_duration,
    seed: options.seed ?? seedFor(manifest, 0, 0),
    cpus: options.cpus ?? Math.min(available, manifest.resources.max_cpus ?? available),
    target: chosen,
    ...(options.params ? { params: options.params } : manifest.work ? {} : { params: chosen.params ?? {} }),
  };
}

/** The BLAS directory a --blas name selects for this run (tests and calibration only). */
function blasDirOf(name: string | undefined): string | undefined {
  if (name === undefined || name === 'system') return undefined;
  if (name !== 'openblas')
    throw new UsageError(`--blas must be openblas or system; found ${JSON.stringify(name)}`, 'run');
  if (!existsSync(DEBIAN_OPENBLAS_DIR))
    throw new UsageError(
      `--blas openblas needs Debian's libopenblas0-pthread (${DEBIAN_OPENBLAS_DIR})`,
      'run',
    );
  return DEBIAN_OPENBLAS_DIR;
}

/**
 * The workunit this machine would be sent, as deploy plans it: the planner sizes the work from this
 * machine's benchmark (measured now on the cores the run gets, unless given) and its BLAS.
 */
async function planLocally(
  target: RunTarget,
  python: string,
  fpops: number | undefined,
  blasDir: string | undefined,
  say: (line: string) => void,
  verbose: boolean,
): Promise<void> {
  const manifest = target.manifest as Manifest;
  const measured = await measureMachine(python, target.cpus, blasDir);
  const host: Host = {
    id: target.target?.host ?? 1,
    cores: target.cpus,
    memoryGb: Math.floor(totalmem() / 2 ** 30),
    os: 'linux',
    gpus: [],
    fpops: fpops ?? measured.fpops,
    ...(measured.blas ? { blas: measured.blas } : {}),
  };
  const { workunit, work } = planOnHost(
    target.manifestFile ?? manifest.name,
    manifest,
    host,
    target.budget,
    target.target,
  );
  target.params = workunit.params;
  target.seed = target.seed ?? workunit.seed;
  if (workunit.plannedSeconds !== undefined) target.plannedSeconds = workunit.plannedSeconds;
  if (work)
    target.planned = `${work.param} = ${work.units}: ${work.reason}${fpops === undefined ? ' (benchmark measured on this machine now)' : ''}, ${measured.blasLibrary ?? 'BLAS unknown'}`;
  if (verbose && target.planned) say(`planned: ${target.planned}`);
}

function parseParams(text: string | undefined): Record<string, ParamValue> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(
      `--params must be a JSON object, e.g. '{"width": 64}'; found ${JSON.stringify(text)}`,
      'run',
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(
      `--params must be a JSON object, e.g. '{"width": 64}'; found ${JSON.stringify(text)}`,
      'run',
    );
  }
  return value as Record<string, ParamValue>;
}

async function enforcePolicy(python: string, target: RunTarget): Promise<void> {
  const allowCupy = target.manifest ? target.manifest.resources.gpu !== 'none' : false;
  const findings =
    (await checkScriptPolicy(python, [{ path: target.script, allowCupy }])).get(target.script) ?? [];
  if (findings.length > 0) {
    throw new InvalidInputError(
      `${target.script} breaks the script policy; it was not run (--skip-policy runs trusted scripts anyway)`,
      findings.map((f) => ({
        file: target.script,
        line: f.line,
        column: f.col,
        rule: `policy/${f.rule}`,
        message: f.message,
        severity: 'error' as const,
      })),
    );
  }
}

function report(outcome: RunOutcome, target: RunTarget, io: Io, args: RunArgs): number {
  const manifest = target.manifest;
  const envelope = outcome.envelope;
  const findings =
    envelope && manifest
      ? [...checkDeclaredMetrics(envelope, manifest), ...checkDeclaredSeries(envelope, manifest)]
      : [];
  const acceptance = envelope && manifest ? evaluateAcceptance(envelope, manifest) : [];
  const strictFailure =
    booleanOption(args, 'strict') && (findings.length > 0 || acceptance.some((a) => !a.passed));
  const code = outcome.status === 'ok' && !strictFailure ? 0 : 1;
  // The one vocabulary of the lab: checks are met or not met; the result supports the hypothesis, or not.
  const judged = envelope
    ? judgeOutcome(envelope, manifest, outcome.status === 'ok')
    : { outcome: 'inconclusive' as const, reason: 'no result' };
  const said = judged.outcome;
  const preconditions = envelope && manifest ? evaluatePreconditions(envelope, manifest) : [];
  if (booleanOption(args, 'json')) {
    io.stdout.write(
      `${JSON.stringify({ ...outcome, findings, preconditions, acceptance, outcome: said, outcomeReason: judged.reason, params: target.params, ...(target.planned ? { planned: target.planned, plannedSeconds: target.plannedSeconds } : {}), exit: code }, null, 2)}\n`,
    );
    return code;
  }
  const lines = [
    `${outcome.status} after ${outcome.elapsedSeconds.toFixed(1)} s of ${target.budget} s${outcome.peakMemoryMb !== undefined ? `, at most ${Math.round(outcome.peakMemoryMb)} MB resident` : ''}: ${outcome.message}`,
  ];
  if (outcome.status !== 'ok' && outcome.stderrTail.trim())
    lines.push(
      'script output (last lines):',
      ...outcome.stderrTail
        .trimEnd()
        .split('\n')
        .slice(-15)
        .map((l) => `  ${l}`),
    );
  lines.push(...outcome.problems.map((p) => `  ${formatProblem(p)}`));
  if (envelope) {
    lines.push(
      `${envelope.status === 'partial' ? 'partial result' : 'result'}: ${printable(envelope.summary)}`,
      'metrics:',
    );
    const keys = Object.keys(envelope.metrics);
    const width = Math.max(...keys.map((k) => k.length));
    for (const [index, key] of keys.entries()) {
      const value = formatNumber(envelope.metrics[key] ?? Number.NaN);
      lines.push(`  ${key.padEnd(width)}  ${value}${index === 0 ? '  (headline)' : ''}`);
    }
  }
  lines.push(...findings.map((f) => `  ${f.rule}: ${f.message}`));
  const checkLine = (a: (typeof acceptance)[number]) =>
    `  ${a.passed ? 'met    ' : 'not met'}  ${describeCheck(a.check)}  (found ${a.value === undefined ? 'nothing' : formatNumber(a.value)})`;
  if (preconditions.length > 0)
    lines.push(
      `preconditions, the work a result must do (${target.manifestFile}):`,
      ...preconditions.map(checkLine),
    );
  if (acceptance.length > 0) {
    lines.push(`checks of the hypothesis (${target.manifestFile}):`, ...acceptance.map(checkLine));
    lines.push(`outcome: ${said}${said === 'supported' ? '' : ` (${judged.reason})`}`);
  }
  if (outcome.status === 'ok' && envelope)
    lines.push(
      `working directory: ${outcome.workdir}${stringOption(args, 'out') ? '' : ' (removed; keep it with --out DIR)'}`,
    );
  io.stdout.write(`${lines.join('\n')}\n`);
  return code;
}

/** Text from the script, shown on a terminal: no control character (an escape sequence would drive it). */
function printable(text: string): string {
  return text.replace(/\p{Cc}/gu, ' ');
}

function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toPrecision(4);
}
