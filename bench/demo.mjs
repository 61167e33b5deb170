// demo-first-round-s, demo-two-rounds-s: `axiom demo --yes` in a fresh lab, as README's quick start
// runs it, on this machine as it is (the demo sizes its work to the benchmark it measures first).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FIRST_ROUND_S = 300;
const TWO_ROUNDS_S = 480;

export async function benchDemo({ root, log }) {
  const dir = mkdtempSync(join(tmpdir(), 'axiom-bench-demo-'));
  try {
    const run = spawnSync(
      process.execPath,
      [join(root, 'bin/axiom.js'), 'demo', '--dir', join(dir, 'demo'), '--yes', '--json'],
      {
        cwd: dir,
        env: { PATH: process.env.PATH, HOME: dir },
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    if (run.status !== 0) throw new Error(`axiom demo failed: ${run.stderr.slice(-2000)}`);
    const report = JSON.parse(run.stdout);
    const second = report.secondRound?.seconds ?? 0;
    const first = report.seconds - second;
    log(
      `first round ${first} s (${report.experiments.length} experiments), both rounds ${report.seconds} s (${report.secondRound?.experiments.length ?? 0} follow-ups), at ${report.benchmark.gflopsPerCore} GFLOPS per core on ${report.benchmark.cores} cores`,
    );
    return [
      {
        name: 'demo-first-round-s',
        value: first,
        unit: 's',
        target: `< ${FIRST_ROUND_S}`,
        pass: first < FIRST_ROUND_S,
      },
      {
        name: 'demo-two-rounds-s',
        value: report.seconds,
        unit: 's',
        target: `< ${TWO_ROUNDS_S}`,
        pass: report.seconds < TWO_ROUNDS_S,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
