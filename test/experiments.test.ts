import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli, runProcess } from './helpers/repo.js';

const env = { PATH: process.env.PATH };
const FIRST_BATCH = [
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

describe('first-batch experiments', () => {
  it('each has a script and a manifest', () => {
    const scripts = readdirSync(join(REPO_ROOT, 'experiments')).map((f) => basename(f, '.py'));
    const manifests = readdirSync(join(REPO_ROOT, 'manifests')).map((f) => basename(f, '.yaml'));
    for (const name of FIRST_BATCH) {
      expect(scripts).toContain(name);
      expect(manifests).toContain(name);
    }
  });

  it.each(FIRST_BATCH)(
    '%s at a 25 s budget on 2 cores finishes in time, passes the policy and writes a valid envelope',
    async (name) => {
      const budget = 25;
      const started = Date.now();
      const result = await runCli(
        ['run', `manifests/${name}.yaml`, '--budget', String(budget), '--cpus', '2', '--json', '--quiet'],
        {
          cwd: REPO_ROOT,
          env,
        },
      );
      const seconds = (Date.now() - started) / 1000;
      expect(result.stderr).toBe('');
      const outcome = JSON.parse(result.stdout);
      expect(outcome.problems).toEqual([]);
      expect(outcome.status).toBe('ok');
      expect(outcome.envelope.experiment).toBe(name);
      expect(outcome.envelope.budget_seconds).toBe(budget);
      expect(outcome.envelope.elapsed_seconds).toBeLessThanOrEqual(budget);
      expect(seconds).toBeLessThan(budget + 5);
    },
    60_000,
  );

  // The budget is a deadline inside every run, also between log-spaced steps: a run given a
  // deadline 1 s away stops within about a second with the steps it reached, one past its deadline
  // does not start, and the result of runs cut short is partial with how far they got.
  it('power_law_forgetting and information_bottleneck stop their runs at the deadline and write partial results', async () => {
    const probe = `
import json, os, sys, tempfile, time
sys.path.insert(0, "experiments")
import power_law_forgetting as f
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
    const result = await runProcess('/usr/bin/python3', ['-c', probe], { cwd: REPO_ROOT, env });
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
