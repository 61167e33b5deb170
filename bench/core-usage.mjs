// experiment-core-usage: CPU time / (wall time x cores) while each first-batch experiment runs on
// 2 cores, measured by a small Python harness from the resource usage of the finished script and
// every process it waited for.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const EXPERIMENTS = [
  'double_descent',
  'neural_scaling_laws',
  'emergent_abilities',
  'mode_connectivity',
  'lottery_ticket',
];
const CORES = 2;
const BUDGET_SECONDS = 60;
const TARGET = 0.85;

const HARNESS = `
import json, os, resource, subprocess, sys, time
script, cores, budget = sys.argv[1], sys.argv[2], sys.argv[3]
env = dict(os.environ, AXIOM_RUN_DURATION=budget, AXIOM_SEED="1", AXIOM_CPUS=cores, AXIOM_PARAMS="{}")
started = time.monotonic()
code = subprocess.run([sys.executable, script], env=env, stdout=subprocess.DEVNULL).returncode
wall = time.monotonic() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime}))
`;

export async function benchCoreUsage({ root, log }) {
  const python =
    process.env.AXIOM_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  const ratios = [];
  for (const name of EXPERIMENTS) {
    const workdir = mkdtempSync(join(tmpdir(), 'axiom-bench-cores-'));
    try {
      const result = spawnSync(
        python,
        ['-c', HARNESS, join(root, 'experiments', `${name}.py`), String(CORES), String(BUDGET_SECONDS)],
        {
          cwd: workdir,
          encoding: 'utf8',
        },
      );
      const { code, wall, cpu } = JSON.parse(result.stdout);
      if (code !== 0) throw new Error(`${name} exited with ${code}: ${result.stderr}`);
      const ratio = cpu / (wall * CORES);
      ratios.push(ratio);
      log(
        `${name}: ${cpu.toFixed(1)} s CPU over ${wall.toFixed(1)} s wall on ${CORES} cores = ${(100 * ratio).toFixed(1)} %`,
      );
    } finally {
      rmSync(workdir, { recursive: true, force: true });
    }
  }
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
  ];
}
