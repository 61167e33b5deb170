import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Host } from '../../src/fleet/types.js';
import { loadManifest } from '../../src/manifest/load.js';
import { SchemaValidator } from '../../src/schema/validate.js';
import { planManifest } from '../../src/workunit/plan.js';
import { REPO_ROOT, runCli } from '../helpers/repo.js';

// `npm run test:science`: every first-batch experiment, with the work the planner chooses for a
// 2-core host at a 120 s budget, passes its acceptance checks. The host's benchmark is
// AXIOM_SCIENCE_FPOPS (per core; default 5e9, below the 7.65e9 BOINC 7.20.5 measured on the
// machine the gflop figures come from, so that a slower machine still finishes in time).
const BUDGET = 120;
const FPOPS = Number(process.env.AXIOM_SCIENCE_FPOPS ?? 5e9);
const EXPERIMENTS = process.env.AXIOM_SCIENCE_EXPERIMENTS?.split(',') ?? [
  'double_descent',
  'neural_scaling_laws',
  'emergent_abilities',
  'mode_connectivity',
  'lottery_ticket',
  'information_bottleneck',
  'power_law_forgetting',
  'reservoir_computing',
  'edge_of_chaos',
  'cellular_automata',
];

const validator = new SchemaValidator();
const host: Host = { id: 1, cores: 2, memoryGb: 8, os: 'linux', gpus: [], fpops: FPOPS };
const figures: Record<string, unknown>[] = [];

/** The workunit the planner makes of an experiment for the 2-core host at the budget. */
function plannedFor(name: string) {
  const manifest = loadManifest(REPO_ROOT, `manifests/${name}.yaml`, validator).manifest;
  if (!manifest) throw new Error(`manifests/${name}.yaml does not load`);
  const scaled = {
    ...manifest,
    run_duration: BUDGET,
    targets: [{ host: 1, ...(manifest.targets[0]?.params ? { params: manifest.targets[0].params } : {}) }],
  };
  const [wu] = planManifest(
    `manifests/${name}.yaml`,
    scaled,
    'ab'.repeat(32),
    new Map([[1, host]]),
  ).workunits;
  if (!wu) throw new Error(`no workunit planned for ${name}`);
  return wu;
}

afterAll(() => {
  writeFileSync(join(REPO_ROOT, 'test-artifacts', 'science.json'), `${JSON.stringify(figures, null, 2)}\n`);
});

describe(`the first batch at a ${BUDGET} s budget on 2 cores`, () => {
  it.each(EXPERIMENTS)(
    '%s passes its acceptance checks with the work the planner chooses',
    async (name) => {
      const wu = plannedFor(name);
      const started = Date.now();
      const result = await runCli(
        [
          'run',
          `manifests/${name}.yaml`,
          '--seed',
          String(wu.seed),
          '--params',
          JSON.stringify(wu.params),
        ].concat(['--budget', String(BUDGET), '--cpus', '2', '--json', '--quiet']),
        { cwd: REPO_ROOT, env: { PATH: process.env.PATH } },
      );
      const seconds = (Date.now() - started) / 1000;
      const outcome = JSON.parse(result.stdout);
      const failed = (outcome.acceptance ?? []).filter((a: { passed: boolean }) => !a.passed);
      figures.push({
        experiment: name,
        params: wu.params,
        planned_seconds: wu.plannedSeconds,
        elapsed_seconds: outcome.envelope?.elapsed_seconds,
        budget_fill: (outcome.envelope?.elapsed_seconds ?? 0) / BUDGET,
        status: outcome.envelope?.status,
        outcome: outcome.outcome,
        failed: failed.map((a: { check: unknown; value?: number }) => a),
        summary: outcome.envelope?.summary,
        metrics: outcome.envelope?.metrics,
      });
      expect({ status: outcome.status, envelope: outcome.envelope?.status }).toEqual({
        status: 'ok',
        envelope: 'ok',
      });
      expect(failed).toEqual([]);
      expect(seconds).toBeLessThan(BUDGET + 10);
    },
    BUDGET * 1000 + 30_000,
  );
});
