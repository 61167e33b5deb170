import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { disagreement } from '../../src/collect/replicas.js';
import { sanitiseEnvelope } from '../../src/envelope/envelope.js';
import { FIRST_BATCH, manifestOf } from '../helpers/experiments.js';
import { REPO_ROOT, runCli } from '../helpers/repo.js';

// `npm run test:science`: every first-batch experiment, with the work the planner chooses for this
// machine as a 2-core host at a 120 s budget (`axiom run` plans it, as deploy would, from this
// machine's benchmark measured when the run starts and its BLAS; AXIOM_SCIENCE_FPOPS gives a fixed
// benchmark instead), shows its phenomenon by its own checks; and the same seed and params agree,
// within the manifest's tolerances, at 1 core and with Debian's OpenBLAS instead of the reference BLAS.
const BUDGET = 120;
const FPOPS = process.env.AXIOM_SCIENCE_FPOPS;
const EXPERIMENTS = process.env.AXIOM_SCIENCE_EXPERIMENTS?.split(',') ?? FIRST_BATCH;
const figures: Record<string, unknown>[] = [];

afterAll(() => {
  mkdirSync(join(REPO_ROOT, 'test-artifacts'), { recursive: true });
  writeFileSync(join(REPO_ROOT, 'test-artifacts', 'science.json'), `${JSON.stringify(figures, null, 2)}\n`);
});

async function run(name: string, args: string[]) {
  const started = Date.now();
  const result = await runCli(['run', `manifests/${name}.yaml`, ...args, '--json', '--quiet'], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH },
  });
  return {
    outcome: JSON.parse(result.stdout),
    seconds: (Date.now() - started) / 1000,
    stderr: result.stderr,
  };
}

/** How far two results are apart, metric by metric: what a tolerance has to cover. */
function gaps(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.keys(a)
      .filter((k) => b[k] !== undefined && a[k] !== b[k])
      .map((k) => [k, Number(Math.abs((a[k] as number) - (b[k] as number)).toPrecision(3))]),
  );
}

describe(`the first batch at a ${BUDGET} s budget on 2 cores`, () => {
  it.each(EXPERIMENTS)(
    '%s shows its phenomenon, and agrees with itself at 1 core and on OpenBLAS',
    async (name) => {
      const main = await run(name, [
        '--budget',
        String(BUDGET),
        '--cpus',
        '2',
        ...(FPOPS ? ['--fpops', FPOPS] : []),
      ]);
      const { outcome } = main;
      const same = ['--seed', String(outcome.envelope?.seed), '--params', JSON.stringify(outcome.params)];
      // The 1-core replica does the same work on half the cores: its deadline is twice as far.
      const oneCore = await run(name, [...same, '--budget', String(2 * BUDGET), '--cpus', '1']);
      const openblas = await run(name, [
        ...same,
        '--budget',
        String(BUDGET),
        '--cpus',
        '2',
        '--blas',
        'openblas',
      ]);
      const manifest = manifestOf(name);
      const envelopes = [outcome, oneCore.outcome, openblas.outcome].map((o) => sanitiseEnvelope(o.envelope));
      const [first, second, third] = envelopes as [
        ReturnType<typeof sanitiseEnvelope>,
        ReturnType<typeof sanitiseEnvelope>,
        ReturnType<typeof sanitiseEnvelope>,
      ];
      figures.push({
        experiment: name,
        params: outcome.params,
        planned: outcome.planned,
        planned_seconds: outcome.plannedSeconds,
        elapsed_seconds: outcome.envelope?.elapsed_seconds,
        budget_fill: (outcome.envelope?.elapsed_seconds ?? 0) / BUDGET,
        status: outcome.envelope?.status,
        outcome: outcome.outcome,
        outcome_reason: outcome.outcomeReason,
        summary: outcome.envelope?.summary,
        metrics: outcome.envelope?.metrics,
        one_core: {
          seconds: oneCore.outcome.envelope?.elapsed_seconds,
          gaps: gaps(first.metrics, second.metrics),
        },
        openblas: {
          seconds: openblas.outcome.envelope?.elapsed_seconds,
          blas: openblas.outcome.planned,
          gaps: gaps(first.metrics, third.metrics),
          disagreement: disagreement(first, third, manifest) ?? null,
        },
      });
      expect({ status: outcome.status, envelope: outcome.envelope?.status }).toEqual({
        status: 'ok',
        envelope: 'ok',
      });
      expect({ outcome: outcome.outcome, reason: outcome.outcomeReason }).toEqual({
        outcome: 'supported',
        reason: 'every check met',
      });
      expect(main.seconds).toBeLessThan(BUDGET + 20);
      for (const replica of [oneCore, openblas])
        expect({ status: replica.outcome.status, envelope: replica.outcome.envelope?.status }).toEqual({
          status: 'ok',
          envelope: 'ok',
        });
      expect(disagreement(first, second, manifest) ?? 'agree').toBe('agree');
      expect(disagreement(first, third, manifest) ?? 'agree').toBe('agree');
    },
    4 * BUDGET * 1000 + 120_000,
  );
});
