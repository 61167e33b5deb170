import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeRepo, manifestYaml, runCli, writeFile } from './helpers/repo.js';

const env = { PATH: process.env.PATH };

const ENVELOPE = `import json, os, time
def write(status="ok", **extra):
    result = {"experiment": "probe_run", "version": "1", "status": status, "seed": int(os.environ["AXIOM_SEED"]),
              "params": json.loads(os.environ["AXIOM_PARAMS"]), "budget_seconds": float(os.environ["AXIOM_RUN_DURATION"]),
              "elapsed_seconds": 0.1, "metrics": {"mean": 0.01}, "series": {"n": [1, 2], "running_mean": [0.5, 0.01]},
              "summary": "ok"}
    result.update(extra)
    with open("experiment_result.json", "w") as f:
        json.dump(result, f)
`;

describe('axiom run', () => {
  it('runs a manifest with its first target, keeps the working directory, and checks acceptance', async () => {
    const root = makeRepo({
      'manifests/probe_run.yaml': manifestYaml('probe_run').replace(
        '    replicas: 2',
        '    replicas: 2\n    params: { width: 3 }',
      ),
      'experiments/probe_run.py': `${ENVELOPE}write()\n`,
    });
    const result = await runCli(
      ['run', 'manifests/probe_run.yaml', '--out', 'kept', '--budget', '10', '--json'],
      { cwd: root, env },
    );
    expect(result.code).toBe(0);
    const outcome = JSON.parse(result.stdout);
    expect(outcome.status).toBe('ok');
    expect(outcome.envelope).toMatchObject({ seed: 7, params: { width: 3 }, budget_seconds: 10 });
    expect(outcome.acceptance.map((a: { passed: boolean }) => a.passed)).toEqual([true]);
    expect(outcome.findings).toEqual([]);
    expect(
      JSON.parse(readFileSync(join(root, 'kept', 'run', 'experiment_result.json'), 'utf8')).metrics,
    ).toEqual({
      mean: 0.01,
    });
    expect(existsSync(join(root, 'kept', 'wu.json'))).toBe(true);
  });

  it("builds its workunit through the planner, as deploy does: the work sized for this machine's benchmark, never below the preconditions", async () => {
    const manifest = manifestYaml('probe_run')
      .replace(
        'outputs:\n  metrics:\n',
        'work: { param: samples, min: 1, max: 1000000, gflop: 1 }\noutputs:\n  metrics:\n',
      )
      .replace('\nacceptance:', '\npreconditions:\n  - { metric: mean, op: ">=", value: -1 }\nacceptance:');
    const root = makeRepo({
      'manifests/probe_run.yaml': manifest,
      'experiments/probe_run.py': `${ENVELOPE}write()\n`,
    });
    const given = await runCli(
      ['run', 'manifests/probe_run.yaml', '--budget', '10', '--cpus', '1', '--fpops', '2e9', '--json'],
      { cwd: root, env },
    );
    const planned = JSON.parse(given.stdout);
    // Half of 10 s on one core at 2e9 is 10 GFLOP: 10 samples of 1.
    expect(planned.params).toEqual({ samples: 10 });
    expect(planned.envelope.params).toEqual({ samples: 10 });
    expect(planned.planned).toMatch(
      /^samples = 10: 50% of 10 s on host 60 \(1 cores, 2.00 GFLOPS per core\)/,
    );
    const measured = JSON.parse(
      (
        await runCli(['run', 'manifests/probe_run.yaml', '--budget', '10', '--cpus', '1', '--json'], {
          cwd: root,
          env,
        })
      ).stdout,
    );
    expect(measured.planned).toContain('(benchmark measured on this machine now)');
    expect(measured.params.samples).toBeGreaterThan(0);
  }, 60_000);

  it('runs numpy on OpenBLAS for one run when asked (tests and calibration), in the sandbox, and the report names it', async () => {
    const root = makeRepo({
      'experiments/probe_run.py': `${ENVELOPE}import numpy
loaded = open("/proc/self/maps").read()
write(metrics={"openblas": float("openblas" in loaded), "reference": float("/blas/libblas" in loaded)})
`,
    });
    const run = async (extra: string[]) => {
      const result = await runCli(
        [
          'run',
          'experiments/probe_run.py',
          '--budget',
          '20',
          '--skip-policy',
          '--out',
          `kept${extra.length}`,
          '--json',
          ...extra,
        ],
        { cwd: root, env },
      );
      expect(result.code, result.stderr).toBe(0);
      const report = JSON.parse(readFileSync(join(root, `kept${extra.length}`, 'axiom_result.json'), 'utf8'));
      return { metrics: JSON.parse(result.stdout).envelope.metrics, blas: report.environment.blas as string };
    };
    const system = await run([]);
    const openblas = await run(['--blas', 'openblas']);
    expect(system.metrics).toEqual({ openblas: 0, reference: 1 });
    expect(system.blas).toMatch(/^blas\/libblas/);
    expect(openblas.metrics).toEqual({ openblas: 1, reference: 0 });
    expect(openblas.blas).toMatch(/^openblas-pthread\//);
    const wrong = await runCli(['run', 'experiments/probe_run.py', '--blas', 'mkl'], { cwd: root, env });
    expect(wrong.code).toBe(2);
  }, 60_000);

  it('fails --strict when an acceptance check fails, and shows which', async () => {
    const root = makeRepo({
      'manifests/probe_run.yaml': manifestYaml('probe_run'),
      'experiments/probe_run.py': `${ENVELOPE}write(metrics={"mean": 0.9})\n`,
    });
    const lenient = await runCli(['run', 'manifests/probe_run.yaml', '--budget', '10'], { cwd: root, env });
    expect(lenient.code).toBe(0);
    expect(lenient.stdout).toContain('not met  mean between [-0.5, 0.5]  (found 0.9000)');
    expect(lenient.stdout).toContain('outcome: not supported');
    const strict = await runCli(['run', 'manifests/probe_run.yaml', '--budget', '10', '--strict'], {
      cwd: root,
      env,
    });
    expect(strict.code).toBe(1);
  });

  it('rejects an envelope that breaks the schema, with located problems', async () => {
    const root = makeRepo({
      'experiments/probe_run.py': `${ENVELOPE}write(metrics={"mean": "high"}, seed=3)\n`,
    });
    const result = await runCli(['run', 'experiments/probe_run.py', '--budget', '10', '--seed', '5'], {
      cwd: root,
      env,
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('invalid-result after');
    expect(result.stdout).toMatch(
      /experiment_result\.json:1:\d+: metrics\.mean: must be a number, found the text "high" \[schema\]/,
    );
  });

  it('reports an echoed seed that differs from the one given', async () => {
    const root = makeRepo({ 'experiments/probe_run.py': `${ENVELOPE}write(seed=3)\n` });
    const result = await runCli(['run', 'experiments/probe_run.py', '--budget', '10', '--seed', '5'], {
      cwd: root,
      env,
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/seed: must echo the seed it was given \(5\); found 3 \[envelope\]/);
  });

  it('stops an overrunning script and exits 1 within the budget plus 5 s', async () => {
    const root = makeRepo({ 'experiments/probe_run.py': 'import time\ntime.sleep(120)\n' });
    const started = Date.now();
    const result = await runCli(['run', 'experiments/probe_run.py', '--budget', '3'], { cwd: root, env });
    expect((Date.now() - started) / 1000).toBeLessThan(3 + 5);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /^overran after [\d.]+ s of 3 s, at most \d+ MB resident: the script ran past its 3 s budget and was stopped/,
    );
  });

  it('refuses to run a script that breaks the policy', async () => {
    const root = makeRepo({ 'experiments/probe_run.py': 'import os\nos.system("touch ran")\n' });
    const result = await runCli(['run', 'experiments/probe_run.py', '--budget', '5'], { cwd: root, env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('breaks the script policy; it was not run');
    expect(result.stderr).toContain("'os.system' is not allowed");
  });

  it('says clearly when the interpreter has no numpy', async () => {
    const root = makeRepo({
      'experiments/probe_run.py': `${ENVELOPE}write()\n`,
      'fake-python': '#!/bin/sh\nexit 1\n',
    });
    chmodSync(join(root, 'fake-python'), 0o755);
    const result = await runCli(['run', 'experiments/probe_run.py'], {
      cwd: root,
      env: { ...env, AXIOM_PYTHON: join(root, 'fake-python') },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'cannot import numpy; install python3-numpy (Debian) or set AXIOM_PYTHON',
    );
  });

  it.each([
    [['run'], 'give exactly one script (.py) or manifest (.yaml)'],
    [
      ['run', 'experiments/probe_run.py', '--budget', 'soon'],
      'axiom run: --budget must be a number of at least 1; found "soon"',
    ],
    [['run', 'experiments/probe_run.py', '--params', '[1]'], '--params must be a JSON object'],
    [['run', 'experiments/probe_run.py', '--out', 'full'], 'is not empty; pass a new or empty directory'],
    [['run', 'missing.py'], 'missing.py: no such file'],
  ])('exits 2 on usage errors: %j', async (argv, message) => {
    const root = makeRepo({ 'experiments/probe_run.py': `${ENVELOPE}write()\n` });
    writeFile(root, 'full/file.txt', 'x');
    const result = await runCli(argv, { cwd: root, env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });
});
