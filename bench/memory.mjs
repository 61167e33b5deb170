// experiment-memory: the most resident memory each first-batch experiment's processes hold
// together at 1, 2 and 8 workers (at most its max_cpus), in the sandbox with the work the planner
// chooses for an 8-core host at a 20 s budget (so that every worker has work), sampled by
// bench/sandbox-harness.py, against the manifest's memory model (resources.memory: base_gb +
// cores × per_cpu_gb), which the planner and the volunteer client use. The target: the model covers
// every measurement, and not by more than 3 times (the planner would otherwise give memory-bound
// hosts fewer cores than they could use).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { memoryOf } from '../dist/manifest/fit.js';
import { experimentsIn, manifestOf, plannedWorkunit } from './planned.mjs';
import { sandboxRun } from './sandbox.mjs';

const WORKERS = [1, 2, 8];
const BUDGET = 20;
const MAX_SLACK = 3;

export async function benchMemory({ root, log }) {
  const python =
    process.env.AXIOM_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  const names = process.env.AXIOM_BENCH_EXPERIMENTS?.split(',') ?? experimentsIn(root);
  const rows = [];
  for (const name of names) {
    const { resources } = manifestOf(root, name);
    const wu = plannedWorkunit(root, name, { cores: 8, budget: BUDGET });
    // The planner never hands a script more than its max_cpus.
    const cap = resources.max_cpus ?? Number.POSITIVE_INFINITY;
    for (const workers of [...new Set(WORKERS.map((k) => Math.min(k, cap)))]) {
      const measured = sandboxRun(root, python, join(root, 'experiments', `${name}.py`), 'sandbox', {
        cores: workers,
        budget: BUDGET,
        params: wu.params,
        seed: wu.seed,
        sampleMemory: true,
      });
      const modelMb = resources.memory ? memoryOf(resources.memory, workers) * 1024 : undefined;
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
