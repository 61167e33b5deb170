// sandbox-overhead: wall time of a trivial script run the way the volunteer client runs it, inside
// the sandbox (bubblewrap probe, namespaces, limits, the exec filter) ÷ the same script run plainly,
// and the difference in ms; medians of alternating runs, so that the machine's noise falls on both.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const RUNS = 15;
/** Per task, whatever it runs: a 600 s task pays 0.03% of its budget for it. */
const TARGET_MS = 200;
const TRIVIAL = `import json
json.dump({"metrics": {"x": 1}}, open("experiment_result.json", "w"))
`;

export function sandboxRun(
  root,
  python,
  script,
  mode,
  { cores = 1, budget = 60, params = {}, seed = 1, sampleMemory = false } = {},
) {
  const harness = join(root, 'bench', 'sandbox-harness.py');
  const result = spawnSync(
    python,
    [
      harness,
      join(root, 'scripts'),
      script,
      String(cores),
      String(budget),
      mode,
      JSON.stringify(params),
      String(seed),
      ...(sampleMemory ? ['memory'] : []),
    ],
    {
      encoding: 'utf8',
    },
  );
  if (result.status !== 0) throw new Error(`the sandbox harness failed: ${result.stderr}`);
  const measured = JSON.parse(result.stdout);
  if (measured.code !== 0) throw new Error(`${script} exited with ${measured.code} (${mode})`);
  return measured;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export async function benchSandbox({ root, log }) {
  const python = process.env.AXIOM_PYTHON ?? '/usr/bin/python3';
  const dir = mkdtempSync(join(tmpdir(), 'axiom-bench-trivial-'));
  const script = join(dir, 'trivial.py');
  writeFileSync(script, TRIVIAL);
  const plain = [];
  const sandboxed = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      plain.push(sandboxRun(root, python, script, 'plain').wall * 1000);
      sandboxed.push(sandboxRun(root, python, script, 'sandbox').wall * 1000);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ratio = median(sandboxed) / median(plain);
  const overhead = median(sandboxed) - median(plain);
  log(
    `plain ${median(plain).toFixed(1)} ms, in the sandbox ${median(sandboxed).toFixed(1)} ms (medians of ${RUNS})`,
  );
  return [
    // The ratio on a script that does nothing is all start-up; what a task pays is the absolute time.
    {
      name: 'sandbox-overhead',
      value: Number(ratio.toFixed(2)),
      unit: 'ratio',
      target: 'report',
      pass: true,
    },
    {
      name: 'sandbox-overhead-ms',
      value: Number(overhead.toFixed(1)),
      unit: 'ms',
      target: `<= ${TARGET_MS}`,
      pass: overhead <= TARGET_MS,
    },
  ];
}
