import { spawn } from 'node:child_process';
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

  // A loaded host: two workers share one core, so a plan calibrated on a free core takes twice as
  // long. The budget is a deadline inside every run: the result is partial, and on time.
  it.each([
    ['power_law_forgetting', 6],
    ['information_bottleneck', 20],
  ] as const)(
    '%s on a loaded host ends on time with a partial result that says how far it got (%i s)',
    async (name, budget) => {
      const started = Date.now();
      const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
        const child = spawn(
          'taskset',
          [
            '-c',
            '0',
            process.execPath,
            join(REPO_ROOT, 'bin/axiom.js'),
            'run',
            `manifests/${name}.yaml`,
            '--budget',
            String(budget),
            '--cpus',
            '2',
            '--json',
            '--quiet',
          ],
          { cwd: REPO_ROOT, env },
        );
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => {
          stdout += d;
        });
        child.stderr.on('data', (d) => {
          stderr += d;
        });
        child.on('close', (code) => done({ code, stdout, stderr }));
      });
      const seconds = (Date.now() - started) / 1000;
      expect(result.stderr).toBe('');
      const outcome = JSON.parse(result.stdout);
      expect(outcome.problems).toEqual([]);
      expect(outcome.envelope.status).toBe('partial');
      expect(outcome.envelope.progress).toBeGreaterThan(0);
      expect(outcome.envelope.progress).toBeLessThan(1);
      expect(outcome.envelope.elapsed_seconds).toBeLessThanOrEqual(budget);
      expect(seconds).toBeLessThan(budget + 5);
    },
    60_000,
  );
});
