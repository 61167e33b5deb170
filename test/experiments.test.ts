import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { disagreement } from '../src/collect/replicas.js';
import { type SanitisedEnvelope, sanitiseEnvelope } from '../src/envelope/envelope.js';
import { FIRST_BATCH, manifestOf, runExperiment } from './helpers/experiments.js';
import { REPO_ROOT, runProcess } from './helpers/repo.js';

const env = { PATH: process.env.PATH };

/** Params small enough for a run of a few seconds on one core. */
const SMALL: Record<string, Record<string, number>> = {
  double_descent: { n_train: 60, dim: 10, noise: 0.5, seeds: 2, n_test: 500 },
  neural_scaling_laws: { steps: 200, pool: 8192, seeds: 1 },
  grokking: { modulus: 23, epochs: 200, width: 32, seeds: 2 },
  mode_connectivity: { steps: 200, pairs: 2, width: 32 },
  lottery_ticket: { steps_per_round: 60, rounds: 2, seeds: 2 },
  information_bottleneck: { epochs: 40, runs: 2, log_points: 10 },
  catastrophic_forgetting: { steps_a: 300, steps_b: 300, runs: 2, log_points: 10 },
  reservoir_computing: { starts: 1, train_steps: 1500 },
  edge_of_chaos: { networks: 1, steps: 200, burn_in: 50, neurons: 100 },
  cellular_automata: { generations: 2, test_ics: 300, runs: 2 },
};

/** Work no host does in 4 s: the manifest's params with a large work size. */
const LARGE: Record<string, Record<string, number>> = {
  double_descent: { seeds: 200 },
  neural_scaling_laws: { steps: 100000 },
  grokking: { epochs: 50000 },
  mode_connectivity: { pairs: 50, steps: 3000 },
  lottery_ticket: { seeds: 4, rounds: 11, steps_per_round: 300 },
  information_bottleneck: { runs: 20, epochs: 2000 },
  catastrophic_forgetting: { runs: 20 },
  reservoir_computing: { starts: 10 },
  edge_of_chaos: { networks: 8 },
  cellular_automata: { generations: 200 },
};

/** The manifest's first target's params with these work sizes. */
function paramsOf(name: string, sizes: Record<string, Record<string, number>>) {
  return { ...(manifestOf(name).targets[0]?.params ?? {}), ...sizes[name] };
}

describe('first-batch experiments', () => {
  it('each has a script and a manifest', () => {
    const scripts = readdirSync(join(REPO_ROOT, 'experiments')).map((f) => basename(f, '.py'));
    const manifests = readdirSync(join(REPO_ROOT, 'manifests')).map((f) => basename(f, '.yaml'));
    for (const name of FIRST_BATCH) {
      expect(scripts).toContain(name);
      expect(manifests).toContain(name);
    }
  });

  // Fixed work: the result is a function of (script, seed, params), so the same seed and params at
  // 1 core and at 2 cores agree within the tolerances the manifest declares (run by the real client,
  // in its sandbox, as a volunteer would run them; small params keep each run to a few seconds).
  it.each(FIRST_BATCH)(
    '%s: the same seed and params at 1 and at 2 cores give the same result',
    async (name) => {
      const runs = [];
      for (const cpus of [1, 2]) {
        const { outcome, stderr } = await runExperiment(name, {
          params: paramsOf(name, SMALL),
          cpus,
          budget: 120,
        });
        expect(stderr).toBe('');
        expect({
          problems: outcome.problems,
          status: outcome.status,
          envelope: outcome.envelope.status,
        }).toEqual({
          problems: [],
          status: 'ok',
          envelope: 'ok',
        });
        runs.push(sanitiseEnvelope(outcome.envelope));
      }
      const [one, two] = runs as [SanitisedEnvelope, SanitisedEnvelope];
      expect(Object.keys(one.metrics).length).toBeGreaterThan(3);
      expect(disagreement(one, two, manifestOf(name))).toBeUndefined();
      // And a result with one metric moved past its tolerance is told apart.
      const [metric, value] = Object.entries(one.metrics).find(([, v]) => v !== 0) as [string, number];
      const moved = { ...two, metrics: { ...two.metrics, [metric]: value * 1.5 + 1 } };
      expect(disagreement(one, moved, manifestOf(name))).toContain(metric);
    },
    60_000,
  );

  // The budget is a deadline: given the manifest's own work at a 4 s budget, every script stops in
  // time and writes a partial result that says how far it got.
  it.each(FIRST_BATCH)(
    '%s: a deadline too short for the planned work gives a partial result, on time',
    async (name) => {
      const budget = 4;
      const { outcome, seconds } = await runExperiment(name, {
        params: paramsOf(name, LARGE),
        cpus: 2,
        budget,
      });
      expect({ status: outcome.status, envelope: outcome.envelope?.status }).toEqual({
        status: 'ok',
        envelope: 'partial',
      });
      expect(outcome.envelope.progress).toBeGreaterThanOrEqual(0);
      expect(outcome.envelope.progress).toBeLessThan(1);
      // Too little work is inconclusive, never "not supported", and says so.
      expect({ outcome: outcome.outcome, reason: outcome.outcomeReason }).toEqual({
        outcome: 'inconclusive',
        reason: expect.stringMatching(
          /^too little work: the run stopped at its deadline after \d+% of its planned work$/,
        ),
      });
      // A metric a partial run did not compute is absent: no check of the hypothesis reads a zero
      // that stands in for a figure the run never reached.
      const zeros = (manifestOf(name).acceptance ?? [])
        .map((c) => c.metric)
        .filter((m) => outcome.envelope.metrics[m] === 0);
      expect(zeros).toEqual([]);
      expect(outcome.envelope.elapsed_seconds).toBeLessThanOrEqual(budget);
      expect(seconds).toBeLessThan(budget + 6);
    },
    60_000,
  );

  // The budget is a deadline inside every run, also between log-spaced steps: a run given a
  // deadline 1 s away stops within about a second with the steps it reached, one past its deadline
  // does not start, and the result of runs cut short is partial with how far they got.
  it('catastrophic_forgetting and information_bottleneck stop their runs at the deadline and write partial results', async () => {
    const probe = `
import json, os, sys, tempfile, time
sys.path.insert(0, "experiments")
import catastrophic_forgetting as f
import information_bottleneck as ib
out = {}
cfg = dict(f.settings(), steps_a=200, steps_b=200000)
logs = [1, 10, 100, 1000, 10000, 100000, 200000]
t = time.monotonic(); r = f.run((1, 0, cfg, logs, t + 1.0)); out["forgetting"] = [len(r[1]), len(logs), time.monotonic() - t]
out["late"] = f.run((1, 0, cfg, logs, time.monotonic() - 1)) is None
elogs = [1, 2, 5, 10, 100, 1000, 5000]
t = time.monotonic(); r = ib.train_run((1, 0, 5000, elogs, t + 1.0)); out["bottleneck"] = [len(r[0]), len(elogs), time.monotonic() - t]
os.chdir(tempfile.mkdtemp())
f.write_result(dict(cfg, steps_b=5000), [(0.9, [0.8, 0.5, 0.3], 0.9), (0.9, [0.7, 0.4], 0.9)], [1, 10, 100, 1000])
res = json.load(open("experiment_result.json"))
out["written"] = [res["status"], res["progress"], res["series"]["step"]]
print(json.dumps(out))
`;
    const result = await runProcess('/usr/bin/python3', ['-B', '-c', probe], { cwd: REPO_ROOT, env });
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout);
    for (const name of ['forgetting', 'bottleneck']) {
      const [reached, planned, seconds] = out[name];
      expect({ name, cut: reached < planned, onTime: seconds < 2 }).toEqual({
        name,
        cut: true,
        onTime: true,
      });
    }
    expect(out.late).toBe(true);
    // Two runs cut after 3 and 2 logged steps share the 2 they both reached: half the planned 4.
    expect(out.written).toEqual(['partial', 0.5, [1, 10]]);
  }, 60_000);
});
