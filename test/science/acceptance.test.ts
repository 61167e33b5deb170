import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Host } from '../../src/fleet/types.js';
import { planForHost } from '../../src/workunit/plan.js';
import { FIRST_BATCH, manifestOf, runExperiment } from '../helpers/experiments.js';
import { REPO_ROOT } from '../helpers/repo.js';

// `npm run test:science`: every first-batch experiment, with the work the planner chooses for a
// 2-core host at a 120 s budget, passes its acceptance checks. The host's benchmark is
// AXIOM_SCIENCE_FPOPS (per core; default 5e9, below the 7.65e9 BOINC 7.20.5 measured on the
// machine the gflop figures come from, so that a slower machine still finishes in time).
const BUDGET = 120;
const FPOPS = Number(process.env.AXIOM_SCIENCE_FPOPS ?? 5e9);
const EXPERIMENTS = process.env.AXIOM_SCIENCE_EXPERIMENTS?.split(',') ?? FIRST_BATCH;

const host: Host = { id: 1, cores: 2, memoryGb: 8, os: 'linux', gpus: [], fpops: FPOPS };
const figures: Record<string, unknown>[] = [];

afterAll(() => {
  writeFileSync(join(REPO_ROOT, 'test-artifacts', 'science.json'), `${JSON.stringify(figures, null, 2)}\n`);
});

describe(`the first batch at a ${BUDGET} s budget on 2 cores`, () => {
  it.each(EXPERIMENTS)(
    '%s passes its acceptance checks with the work the planner chooses',
    async (name) => {
      const wu = planForHost(`manifests/${name}.yaml`, manifestOf(name), host, BUDGET);
      const { outcome, seconds } = await runExperiment(name, {
        params: wu.params,
        seed: wu.seed,
        cpus: 2,
        budget: BUDGET,
      });
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
