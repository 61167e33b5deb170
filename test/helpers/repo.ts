import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { main } from '../../src/cli/main.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');

const created: string[] = [];
afterEach(() => {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A throwaway repository with the real fleet snapshot and configuration, plus the given files. */
export function makeRepo(files: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'axiom-repo-'));
  created.push(root);
  cpSync(join(REPO_ROOT, 'fleet.yaml'), join(root, 'fleet.yaml'));
  cpSync(join(REPO_ROOT, 'axiom.yaml'), join(root, 'axiom.yaml'));
  mkdirSync(join(root, 'manifests'));
  mkdirSync(join(root, 'experiments'));
  for (const [path, text] of Object.entries(files)) writeFile(root, path, text);
  return root;
}

export function writeFile(root: string, path: string, text: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}

/** A valid manifest for `name`, with overrides as YAML text lines appended at top level. */
export function manifestYaml(name: string, extra = ''): string {
  return `name: ${name}
title: A small test experiment
hypothesis: The mean of many normal draws is close to zero.
script: experiments/${name}.py
run_duration: 120
resources:
  min_cpus: 1
  min_memory_gb: 1
  gpu: none
  os: [linux]
targets:
  - host: 60
    replicas: 2
  - host: 267
seed:
  policy: per_replica
  base: 7
outputs:
  metrics:
    mean: { type: number, min: -1, max: 1 }
  series:
    n: {}
    running_mean: {}
  plots:
    - { title: Running mean, x: n, y: [running_mean] }
acceptance:
  - { metric: mean, op: between, value: [-0.5, 0.5] }
credit_cap: 10
provenance:
  designed_by: person
  author: Test Suite
${extra}`;
}

/** A script that writes a whole result envelope for `name`, as the runner checks it. */
export const envelopeScript = (name: string) => `import json, os
result = {"experiment": "${name}", "version": "1", "status": "ok", "seed": int(os.environ["AXIOM_SEED"]),
          "params": json.loads(os.environ["AXIOM_PARAMS"]), "budget_seconds": float(os.environ["AXIOM_RUN_DURATION"]),
          "elapsed_seconds": 0.1, "metrics": {"mean": 0.01}, "series": {"n": [1, 2], "running_mean": [0.5, 0.01]},
          "summary": "ok"}
with open("experiment_result.json", "w") as handle:
    json.dump(result, handle)
`;

export const OK_SCRIPT = `import json
import numpy as np

values = np.random.default_rng(0).standard_normal(100)
with open("experiment_result.json", "w") as handle:
    json.dump({"metrics": {"mean": float(values.mean())}}, handle)
`;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process, as the bin does, with captured output. */
export async function runCli(
  argv: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: options.env ?? { PATH: process.env.PATH },
    cwd: options.cwd,
    isTTY: false,
  });
  return { code, stdout, stderr };
}

/** Runs a program without blocking the test worker (a blocked worker misses vitest's heartbeats). */
export function runProcess(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}
