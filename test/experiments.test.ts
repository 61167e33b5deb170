import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli } from './helpers/repo.js';

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
});
