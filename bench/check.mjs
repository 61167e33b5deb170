// check-1000-manifests-s: `axiom check` over 1,000 generated manifests with their scripts.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MANIFESTS = 1000;
const RUNS = 3;
const TARGET_SECONDS = 5;
const HOSTS = [194, 287, 296, 141, 80, 209, 249, 321, 60, 267];

function manifest(name, index) {
  const hosts = [HOSTS[index % HOSTS.length], HOSTS[(index + 3) % HOSTS.length]];
  return `name: ${name}
title: Generated experiment ${index}
hypothesis: Generated manifest number ${index} checks how axiom check scales.
script: experiments/${name}.py
run_duration: ${300 + (index % 10) * 30}
resources: { min_cpus: 2, max_cpus: 16, min_memory_gb: 4, gpu: none, os: [linux, windows] }
targets:
${hosts.map((h) => `  - { host: ${h}, replicas: 2, params: { width: ${index % 50}, lr: 0.001 } }`).join('\n')}
seed: { policy: per_replica, base: ${index} }
outputs:
  metrics:
    score: { type: number, min: 0, max: 1 }
    steps: { type: integer, min: 0 }
  series: { step: {}, loss: {} }
  plots: [{ title: Loss, x: step, y: [loss], y_scale: log }]
acceptance:
  - { metric: score, op: '>', value: 0.5 }
credit_cap: 20
provenance: { designed_by: person, author: bench }
`;
}

export async function benchCheck({ root, log }) {
  const repo = mkdtempSync(join(tmpdir(), 'axiom-bench-check-'));
  try {
    copyFileSync(join(root, 'fleet.yaml'), join(repo, 'fleet.yaml'));
    copyFileSync(join(root, 'axiom.yaml'), join(repo, 'axiom.yaml'));
    mkdirSync(join(repo, 'manifests'));
    mkdirSync(join(repo, 'experiments'));
    const script = readFileSync(join(root, 'experiments', 'double_descent.py'), 'utf8');
    for (let i = 0; i < MANIFESTS; i++) {
      const name = `generated_${String(i).padStart(4, '0')}`;
      writeFileSync(join(repo, 'manifests', `${name}.yaml`), manifest(name, i));
      // Each script differs so that every plan hashes its own file.
      writeFileSync(join(repo, 'experiments', `${name}.py`), `${script}\n# variant ${i}\n`);
    }
    log(`generated ${MANIFESTS} manifests and scripts in ${repo}`);
    const times = [];
    for (let run = 0; run < RUNS; run++) {
      const start = process.hrtime.bigint();
      const result = spawnSync(
        process.execPath,
        [join(root, 'bin', 'axiom.js'), 'check', '--json', '--quiet'],
        {
          cwd: repo,
          encoding: 'utf8',
          maxBuffer: 256 * 1024 * 1024,
        },
      );
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const report = JSON.parse(result.stdout);
      if (
        result.status !== 0 ||
        report.summary.manifests !== MANIFESTS ||
        report.summary.workunits !== 4 * MANIFESTS
      ) {
        throw new Error(
          `axiom check did not pass on the generated repository (exit ${result.status}): ${result.stderr}`,
        );
      }
      times.push(seconds);
      log(`run ${run + 1}: ${seconds.toFixed(2)} s`);
    }
    const median = times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
    return [
      {
        name: 'check-1000-manifests-s',
        value: Number(median.toFixed(3)),
        unit: 's',
        target: `< ${TARGET_SECONDS}`,
        pass: median < TARGET_SECONDS,
      },
    ];
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
}
