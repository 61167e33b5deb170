// site-1000-results-s: `axiom site` over a results/ tree of 1,000 results (ten experiments of the
// first batch, 100 results each, with their plots and overviews), measured end to end.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeResultsTree } from '../test/fixtures/results-tree.mjs';

const RESULTS = 1000;
const TARGET_S = 30;

export async function benchSite({ root, log }) {
  const experiments = readdirSync(join(root, 'manifests'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -5))
    .sort();
  const lab = mkdtempSync(join(tmpdir(), 'axiom-bench-site-'));
  try {
    const written = writeResultsTree(lab, {
      repo: root,
      experiments,
      perExperiment: RESULTS / experiments.length,
    });
    const started = process.hrtime.bigint();
    const run = spawnSync(
      process.execPath,
      [join(root, 'bin/axiom.js'), 'site', '--out', join(lab, '_site'), '--json'],
      {
        cwd: lab,
        env: { PATH: process.env.PATH },
        encoding: 'utf8',
      },
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (run.status !== 0) throw new Error(`axiom site failed: ${run.stderr}`);
    const report = JSON.parse(run.stdout);
    if (report.results !== written) throw new Error(`site has ${report.results} results of ${written}`);
    log(`${report.results} results, ${report.pages} pages, ${report.plots} plots in ${seconds.toFixed(1)} s`);
    return [
      {
        name: 'site-1000-results-s',
        value: Number(seconds.toFixed(1)),
        unit: 's',
        target: `< ${TARGET_S}`,
        pass: seconds < TARGET_S,
      },
    ];
  } finally {
    rmSync(lab, { recursive: true, force: true });
  }
}
