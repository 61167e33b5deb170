// experiment-budget-fill: every first-batch experiment with the work the planner chooses for a
// 2-core host at a 600 s budget, run by the volunteer client in its sandbox, once with the reference
// BLAS and once with Debian's OpenBLAS (the planner told the host's BLAS, as the fleet learns it from
// its results); the share of the budget each used. The host's benchmark is this machine's, measured
// when each run starts (scripts/axiom_benchmark.py), as `axiom run` plans; AXIOM_BENCH_FPOPS=N fixes
// it instead (7.65e9 is the host the work models were first calibrated on).
// AXIOM_BENCH_BLAS=reference or openblas runs one of them; AXIOM_BENCH_EXPERIMENTS=a,b runs those;
// AXIOM_BENCH_LOCK=FILE takes that lock (flock) around each run, so other measurements interleave.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { experimentsIn, MEASURED_FPOPS, plannedWorkunit } from './planned.mjs';

const BUDGET = Number(process.env.AXIOM_BENCH_BUDGET ?? 600);
const LOW = 0.3;
const HIGH = 0.95;

function runOnce(root, name, wu, blas) {
  const args = [
    join(root, 'bin', 'axiom.js'),
    'run',
    `manifests/${name}.yaml`,
    ...(wu ? ['--seed', String(wu.seed), '--params', JSON.stringify(wu.params)] : []),
    '--budget',
    String(BUDGET),
    '--cpus',
    '2',
    ...(blas === 'openblas' ? ['--blas', 'openblas'] : []),
    '--json',
    '--quiet',
  ];
  const lock = process.env.AXIOM_BENCH_LOCK;
  const [command, argv] = lock ? ['flock', [lock, process.execPath, ...args]] : [process.execPath, args];
  const run = spawnSync(command, argv, { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(run.stdout);
}

export async function benchBudgetFill({ root, log }) {
  const fixed = process.env.AXIOM_BENCH_FPOPS;
  const measure = fixed === undefined || fixed === 'measure';
  const fpops = measure ? undefined : Number(fixed);
  if (fpops !== undefined && !(fpops > 0))
    throw new Error(
      `AXIOM_BENCH_FPOPS must be a speed per core in FLOPS (e.g. ${MEASURED_FPOPS}) or "measure"`,
    );
  const names = process.env.AXIOM_BENCH_EXPERIMENTS?.split(',') ?? experimentsIn(root);
  const builds = process.env.AXIOM_BENCH_BLAS?.split(',') ?? ['reference', 'openblas'];
  const fills = [];
  for (const blas of builds)
    for (const name of names) {
      const wu = measure ? undefined : plannedWorkunit(root, name, { cores: 2, budget: BUDGET, fpops, blas });
      const outcome = runOnce(root, name, wu, blas);
      const elapsed = outcome.elapsedSeconds ?? outcome.envelope?.elapsed_seconds ?? 0;
      const fill = elapsed / BUDGET;
      fills.push({ name, blas, fill, status: outcome.envelope?.status ?? outcome.status });
      log(
        `${name} (${blas}): ${JSON.stringify(outcome.params ?? wu?.params)} planned ${outcome.plannedSeconds ?? wu?.plannedSeconds} s${outcome.planned ? ` (${outcome.planned})` : ''}, ran ${elapsed.toFixed(1)} s of ${BUDGET} s = ${(100 * fill).toFixed(1)} % (${outcome.envelope?.status ?? outcome.status}, ${outcome.outcome ?? 'no outcome'}${outcome.outcome && outcome.outcome !== 'supported' ? `: ${outcome.outcomeReason}` : ''})`,
      );
    }
  const within = fills.filter((f) => f.fill >= LOW && f.fill <= HIGH && f.status === 'ok');
  return [
    {
      name: 'experiment-budget-fill',
      value: Number(Math.min(...fills.map((f) => f.fill)).toFixed(3)),
      unit: `lowest share of a ${BUDGET} s budget (${within.length} of ${fills.length} runs, ${builds.join(' and ')} BLAS, within ${LOW}-${HIGH})`,
      target: `every experiment within ${LOW}-${HIGH} with each BLAS`,
      pass: within.length === fills.length,
    },
    ...fills.map((f) => ({
      name: `experiment-budget-fill-${f.name}-${f.blas}`,
      value: Number(f.fill.toFixed(3)),
      unit: `share of a ${BUDGET} s budget (${f.status})`,
      target: `${LOW}-${HIGH}`,
      pass: f.fill >= LOW && f.fill <= HIGH && f.status === 'ok',
    })),
  ];
}
