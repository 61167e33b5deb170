// experiment-memory: the most resident memory each first-batch experiment's processes hold
// together at 1, 2 and 8 workers (at most its max_cpus; in the sandbox, with the work the planner chooses for an 8-core
// host at a 20 s budget, so that every worker has work), against the manifest's memory model
// (resources.memory: base_gb + cores × per_cpu_gb), which the planner and the volunteer client use.
// The target: the model covers every measurement, and not by more than 3 times (the planner would
// otherwise give memory-bound hosts fewer cores than they could use).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadManifest } from '../dist/manifest/load.js';
import { SchemaValidator } from '../dist/schema/validate.js';
import { experimentsIn, plannedWorkunit } from './planned.mjs';

const WORKERS = [1, 2, 8];
const BUDGET = 20;
const MAX_SLACK = 3;

export async function benchMemory({ root, log }) {
  const python =
    process.env.AXIOM_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  const validator = new SchemaValidator();
  const names = process.env.AXIOM_BENCH_EXPERIMENTS?.split(',') ?? experimentsIn(root);
  const rows = [];
  for (const name of names) {
    const manifest = loadManifest(root, `manifests/${name}.yaml`, validator).manifest;
    const model = manifest?.resources.memory;
    const wu = plannedWorkunit(root, name, { cores: 8, budget: BUDGET });
    // The planner never hands a script more than its max_cpus.
    const cap = manifest?.resources.max_cpus ?? Number.POSITIVE_INFINITY;
    for (const workers of [...new Set(WORKERS.map((k) => Math.min(k, cap)))]) {
      const run = spawnSync(
        python,
        [
          join(root, 'bench', 'memory-harness.py'),
          join(root, 'scripts'),
          join(root, 'experiments', `${name}.py`),
          String(workers),
          String(BUDGET),
          String(wu.seed),
          JSON.stringify(wu.params),
        ],
        { cwd: root, encoding: 'utf8' },
      );
      if (run.status !== 0) throw new Error(`${name} at ${workers} workers: ${run.stderr.slice(-500)}`);
      const measured = JSON.parse(run.stdout.trim().split('\n').at(-1));
      const modelMb = model ? (model.base_gb + workers * model.per_cpu_gb) * 1024 : undefined;
      const ratio = modelMb ? measured.peak_mb / modelMb : Number.POSITIVE_INFINITY;
      rows.push({ name, workers, peakMb: measured.peak_mb, modelMb, ratio });
      log(
        `${name} at ${workers} workers: ${measured.peak_mb.toFixed(0)} MB peak over ${measured.processes} processes (${measured.status}); model ${modelMb ? `${modelMb.toFixed(0)} MB, measured/model ${ratio.toFixed(2)}` : 'none'}`,
      );
    }
  }
  const worst = Math.max(...rows.map((r) => r.ratio));
  const loosest = Math.min(...rows.map((r) => r.ratio));
  return [
    {
      name: 'experiment-memory',
      value: Number(worst.toFixed(3)),
      unit: `highest measured/model resident memory over ${rows.length} runs at ${WORKERS.join(', ')} workers (lowest ${loosest.toFixed(3)})`,
      target: `every run <= 1 and >= ${(1 / MAX_SLACK).toFixed(2)}`,
      pass: worst <= 1 && loosest >= 1 / MAX_SLACK,
    },
  ];
}
