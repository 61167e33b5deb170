// collect-10k-s and collect-10k-peak-mb: `axiom collect` judging 10,000 spooled results with the
// rules judge into one commit of the results pull request (local forge), end to end, with the
// peak resident memory of the process.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const RESULTS = 10_000;
const TARGET_S = 60;
const TARGET_MB = 500;
// The schema allows 100 replicas per target: 100 hosts with 100 replicas each.
const HOSTS = 100;
const SCRIPT = 'import json\nprint(json.dumps({}))\n';

function git(cwd, ...args) {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: {
      PATH: process.env.PATH,
      HOME: cwd,
      GIT_AUTHOR_NAME: 'Bench',
      GIT_AUTHOR_EMAIL: 'bench@example.org',
      GIT_COMMITTER_NAME: 'Bench',
      GIT_COMMITTER_EMAIL: 'bench@example.org',
    },
  });
}

const MANIFEST = `name: bench_mean
title: The mean of normal draws
hypothesis: The mean of many normal draws is close to zero.
script: experiments/bench_mean.py
run_duration: 120
resources: { min_cpus: 1, min_memory_gb: 1, gpu: none, os: [linux] }
targets:
${Array.from({ length: HOSTS }, (_, i) => `  - { host: ${1000 + i}, replicas: ${RESULTS / HOSTS} }`).join('\n')}
seed: { policy: unique, base: 7 }
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
provenance: { designed_by: person, author: Bench }
`;

export async function benchCollect({ root, log }) {
  const lab = mkdtempSync(join(tmpdir(), 'axiom-bench-collect-'));
  try {
    const origin = join(lab, 'origin.git');
    const clone = join(lab, 'clone');
    git(lab, 'init', '--quiet', '--bare', '--initial-branch=main', origin);
    git(lab, 'clone', '--quiet', origin, clone);
    git(clone, 'checkout', '--quiet', '-B', 'main');
    mkdirSync(join(clone, 'manifests'));
    mkdirSync(join(clone, 'experiments'));
    writeFileSync(join(clone, 'manifests/bench_mean.yaml'), MANIFEST);
    writeFileSync(join(clone, 'experiments/bench_mean.py'), SCRIPT);
    cpSync(join(root, 'axiom.yaml'), join(clone, 'axiom.yaml'));
    git(clone, 'add', '.');
    git(clone, 'commit', '--quiet', '-m', 'Bench lab');
    git(clone, 'push', '--quiet', 'origin', 'main');

    const sha = createHash('sha256').update(SCRIPT).digest('hex');
    const spool = join(lab, 'spool');
    mkdirSync(spool);
    for (let i = 0; i < RESULTS; i++) {
      const host = 1000 + (i % HOSTS);
      const replica = Math.floor(i / HOSTS);
      const wu = `axm_bench_mean_${sha.slice(0, 12)}_h${host}_r${replica}`;
      const mean = ((i % 97) - 48) / 1000;
      const entry = {
        kind: 'result',
        received_at: '2026-11-25T10:00:00.000Z',
        wu_name: wu,
        wu_id: i + 1,
        result_id: i + 1,
        runtime: 110,
        host_id: host,
        user_id: 1 + (host % 10),
        verdict: 'accepted',
        client: { status: 'ok', exit_code: 0, elapsed_seconds: 110, script_sha256: sha },
        envelope: {
          experiment: 'bench_mean',
          version: '1',
          status: 'ok',
          seed: 7 + (i % HOSTS) * (RESULTS / HOSTS) + replica,
          params: {},
          budget_seconds: 120,
          elapsed_seconds: 110,
          metrics: { mean },
          series: { n: [1, 2, 3, 4], running_mean: [mean * 4 + i / 1e6, mean * 3, mean * 2, mean] },
          summary: `replica ${replica}`,
          dropped: [],
        },
      };
      writeFileSync(join(spool, `${wu}__${i + 1}.json`), JSON.stringify(entry));
    }
    log(`spooled ${RESULTS} results`);
    const runner = `const m = await import(${JSON.stringify(join(root, 'dist/cli/main.js'))});
const code = await m.main(['collect', '--run', '2026-11-25T120000Z', '--json'], m.processIo());
process.stderr.write('MAXRSS ' + process.resourceUsage().maxRSS + '\\n');
process.exitCode = code;`;
    const started = process.hrtime.bigint();
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', runner], {
      cwd: clone,
      env: { PATH: process.env.PATH, HOME: lab, AXIOM_SPOOL_DIR: spool, AXIOM_FORGE: 'local' },
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (run.status !== 0)
      throw new Error(`axiom collect failed (${run.status} ${run.signal} ${run.error}): ${run.stderr}`);
    const report = JSON.parse(run.stdout);
    const valid = report.collected.filter((c) => c.verdict === 'valid').length;
    if (report.collected.length !== RESULTS || valid !== RESULTS)
      throw new Error(
        `collected ${report.collected.length}, ${valid} valid, of ${RESULTS}: ${JSON.stringify(report.collected[0])} ${JSON.stringify(report.problems.slice(0, 2))}`,
      );
    const files = git(origin, 'ls-tree', '-r', '--name-only', 'axiom/results')
      .split('\n')
      .filter(Boolean).length;
    const commits = Number(git(origin, 'rev-list', '--count', 'main..axiom/results').trim());
    if (commits !== 1) throw new Error(`the results are in ${commits} commits, not one`);
    const peakMb = Number(/MAXRSS (\d+)/.exec(run.stderr)?.[1] ?? 0) / 1024;
    log(
      `${RESULTS} results judged and committed (${files} files, one commit) in ${seconds.toFixed(1)} s, peak ${peakMb.toFixed(0)} MB`,
    );
    return [
      {
        name: 'collect-10k-s',
        value: Number(seconds.toFixed(1)),
        unit: 's',
        target: `< ${TARGET_S}`,
        pass: seconds < TARGET_S,
      },
      {
        name: 'collect-10k-peak-mb',
        value: Math.round(peakMb),
        unit: 'MB',
        target: `< ${TARGET_MB}`,
        pass: peakMb > 0 && peakMb < TARGET_MB,
      },
    ];
  } finally {
    rmSync(lab, { recursive: true, force: true });
  }
}
