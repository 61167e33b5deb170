// experiment-core-usage: CPU time / (wall time x cores) while each first-batch experiment runs on
// 2 cores inside the sandbox, as the volunteer client runs it, measured by bench/sandbox-harness.py
// from the resource usage of everything it waited for; and, to tell a script that leaves cores idle
// from a machine whose other work takes them, how much of that time its processes were running or
// waiting for a core (experiment-core-demand, from /proc/<pid>/schedstat).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { plannedWorkunit } from './planned.mjs';
import { sandboxRun } from './sandbox.mjs';

const EXPERIMENTS = [
  'double_descent',
  'neural_scaling_laws',
  'grokking',
  'mode_connectivity',
  'lottery_ticket',
];
const CORES = 2;
const BUDGET_SECONDS = 60;
const TARGET = 0.85;

export async function benchCoreUsage({ root, log }) {
  const python =
    process.env.AXIOM_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  const ratios = [];
  const demands = [];
  for (const name of EXPERIMENTS) {
    // The work the planner chooses for a 2-core host at this budget: fixed work, not the clock.
    const { params } = plannedWorkunit(root, name, { cores: CORES, budget: BUDGET_SECONDS });
    const { wall, cpu, runnable } = sandboxRun(
      root,
      python,
      join(root, 'experiments', `${name}.py`),
      'sandbox',
      {
        cores: CORES,
        budget: BUDGET_SECONDS,
        params,
      },
    );
    const ratio = cpu / (wall * CORES);
    ratios.push(ratio);
    demands.push(Math.min(1, runnable / (wall * CORES)));
    log(
      `${name}: ${cpu.toFixed(1)} s CPU over ${wall.toFixed(1)} s wall on ${CORES} cores in the sandbox = ${(100 * ratio).toFixed(1)} %; running or ready to run ${(100 * (demands.at(-1) ?? 0)).toFixed(1)} %`,
    );
  }
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  log(`load average at the end: ${load} (other work on the machine takes cores from the experiments)`);
  const mean = ratios.reduce((a, b) => a + b, 0) / ratios.length;
  const lowest = Math.min(...ratios);
  return [
    {
      name: 'experiment-core-usage',
      value: Number(mean.toFixed(3)),
      unit: 'ratio',
      target: `>= ${TARGET}`,
      pass: mean >= TARGET,
    },
    {
      name: 'experiment-core-usage-min',
      value: Number(lowest.toFixed(3)),
      unit: 'ratio',
      target: 'report',
      pass: true,
    },
    // The share of wall time x cores the experiments' processes were running or waiting in the run
    // queue: 1 when they kept every granted core asked for, however busy the rest of the machine.
    {
      name: 'experiment-core-demand',
      value: Number((demands.reduce((a, b) => a + b, 0) / demands.length).toFixed(3)),
      unit: 'ratio',
      target: 'report',
      pass: true,
    },
  ];
}
