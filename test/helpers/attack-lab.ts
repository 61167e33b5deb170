import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resultsBranch } from '../../src/collect/results.js';
import { DEFAULT_IDENTITY } from '../../src/forge/git.js';
import { LocalForge } from '../../src/forge/local.js';
import type { WorkunitInput } from '../../src/workunit/input.js';
import { createTestProject, type TestProject } from './boinc-project.js';
import { git, type Lab, makeLab, PERSON, showFile } from './git.js';
import { insertFirstBatch } from './mariadb.js';
import { REPO_ROOT, runCli } from './repo.js';

/**
 * A lab whose results come back the way BOINC hands them over: `axiom deploy` creates the workunits
 * (create_work stand-in, real MariaDB) with the seeds it draws, the real script runs in the sandbox
 * through `axiom run`, BOINC's result rows say who returned what and how long BOINC measured, and
 * `axiom assimilate` (the real reader) puts each upload into the spool. Attacks edit what a volunteer
 * controls: the uploaded file.
 */

/** A small seed-dependent experiment: a random walk of `steps` steps. */
export const WALK_SCRIPT = `import json
import os

import numpy as np

seed = int(os.environ["AXIOM_SEED"])
params = json.loads(os.environ.get("AXIOM_PARAMS") or "{}")
steps = int(params.get("steps", 200))
walk = np.cumsum(np.random.default_rng(seed).standard_normal(steps))
result = {
    "experiment": "walk",
    "version": "1.0.0",
    "status": "ok",
    "seed": seed,
    "params": params,
    "budget_seconds": float(os.environ["AXIOM_RUN_DURATION"]),
    "elapsed_seconds": 0.5,
    "metrics": {"spread": float(walk.std()), "final": float(walk[-1]), "steps": steps},
    "series": {"t": list(range(0, steps, 50)), "x": [float(v) for v in walk[::50]]},
    "summary": "a random walk",
}
with open("experiment_result.json", "w") as handle:
    json.dump(result, handle)
`;

/** The walk's manifest: every host a same-seed replica of the others, a work model sized by the planner. */
export function walkManifest(targets: readonly number[], extra = '', cap = 50): string {
  return `name: walk
title: Random walks spread as the square root of time
hypothesis: The spread of a random walk of n unit steps grows as the square root of n.
script: experiments/walk.py
run_duration: 120
resources:
  min_cpus: 1
  max_cpus: 1
  min_memory_gb: 1
  gpu: none
  os: [linux]
targets:
${targets.map((h) => `  - host: ${h}\n`).join('')}seed:
  policy: fixed
  base: 1
work: { param: steps, min: 1000, max: 4000, gflop: 0.02, max_cores: 1 }
outputs:
  metrics:
    spread: { type: number, min: 0, max: 1000 }
    final: { type: number, min: -10000, max: 10000 }
    steps: { type: integer, min: 1, max: 100000 }
  series:
    t: {}
    x: {}
acceptance:
  - { metric: spread, op: '>', value: 0 }
credit_cap: ${cap}
provenance:
  designed_by: person
  author: Test Suite
${extra}`;
}

export interface AttackLab {
  project: TestProject;
  lab: Lab;
  spool: string;
  env: NodeJS.ProcessEnv;
  cleanup(): Promise<void>;
}

export async function makeAttackLab(targets: readonly number[], extra = ''): Promise<AttackLab> {
  const project = await createTestProject();
  await insertFirstBatch(project.db.connection, Math.floor(Date.now() / 1000));
  const lab = makeLab({
    'manifests/walk.yaml': walkManifest(targets, extra),
    'experiments/walk.py': WALK_SCRIPT,
    'axiom.yaml': readFileSync(join(REPO_ROOT, 'axiom.yaml'), 'utf8'),
    'fleet.yaml': readFileSync(join(REPO_ROOT, 'fleet.yaml'), 'utf8'),
  });
  const spool = join(lab.root, 'spool');
  const publish = mkdtempSync(join(tmpdir(), 'axiom-publish-'));
  const env = {
    PATH: process.env.PATH,
    HOME: lab.root,
    AXIOM_DB_URL: project.db.url,
    AXIOM_BOINC_PROJECT_DIR: project.projectDir,
    AXIOM_PUBLISH_DIR: publish,
    AXIOM_SCRIPT_BASE_URL: 'https://boinc.example.org/axiom/',
    AXIOM_SPOOL_DIR: spool,
    AXIOM_FORGE: 'local',
  };
  return {
    project,
    lab,
    spool,
    env,
    cleanup: async () => {
      await project.cleanup();
      rmSync(publish, { recursive: true, force: true });
    },
  };
}

/** Runs a CLI command in the lab's clone; fails the test on an unexpected exit. */
export async function cli(lab: AttackLab, args: string[], expectCode = 0) {
  const result = await runCli(args, { cwd: lab.lab.clone, env: lab.env });
  if (result.code !== expectCode)
    throw new Error(`axiom ${args.join(' ')} exited ${result.code}:\n${result.stderr}\n${result.stdout}`);
  return result;
}

/** What deploy recorded: every workunit's wu.json, by name. */
export async function deployed(lab: AttackLab): Promise<Map<string, WorkunitInput & { kind: string }>> {
  const [rows] = (await lab.project.db.connection.query(
    'SELECT name, kind, input FROM axiom_workunit',
  )) as unknown as [{ name: string; kind: string; input: string }[]];
  return new Map(rows.map((r) => [r.name, { ...(JSON.parse(r.input) as WorkunitInput), kind: r.kind }]));
}

export function workunitOn(inputs: Map<string, WorkunitInput>, host: number): WorkunitInput {
  const found = [...inputs.values()].find((i) => i.wu_name.includes(`_h${host}_`));
  if (!found) throw new Error(`no workunit for host ${host}: ${[...inputs.keys()].join(', ')}`);
  return found;
}

/** The client's report of an honest run of a workunit: the real script, in the sandbox. */
export async function honestRun(lab: AttackLab, input: WorkunitInput): Promise<Record<string, any>> {
  const out = join(mkdtempSync(join(tmpdir(), 'axiom-honest-')), 'run');
  const result = await runCli(
    [
      'run',
      'experiments/walk.py',
      '--seed',
      String(input.seed),
      '--params',
      JSON.stringify(input.params),
      '--cpus',
      String(input.cpus),
      '--budget',
      '120',
      '--out',
      out,
      '--json',
      '--quiet',
    ],
    { cwd: lab.lab.clone, env: { PATH: process.env.PATH } },
  );
  if (JSON.parse(result.stdout).status !== 'ok') throw new Error(`honest run failed: ${result.stdout}`);
  const report = JSON.parse(readFileSync(join(out, 'axiom_result.json'), 'utf8'));
  // axiom run checks the script's sha256 against the file it ran; the workunit's is the published one.
  report.script_sha256 = input.script_sha256;
  return report;
}

/**
 * BOINC's side of a returned task: the scheduler sent the workunit to `host`, the client reported
 * it after `elapsed` seconds, and the assimilator hands the upload to `axiom assimilate`. Returns
 * the result id.
 */
export async function returnResult(
  lab: AttackLab,
  input: WorkunitInput,
  host: number,
  report: Record<string, unknown>,
  elapsed = 30,
): Promise<number> {
  const sql = lab.project.db.connection;
  const [[owner]] = (await sql.query('SELECT userid FROM host WHERE id = ?', [host])) as unknown as [
    { userid: number }[],
  ];
  const now = Math.floor(Date.now() / 1000);
  await sql.query(
    `INSERT INTO result (create_time, workunitid, server_state, outcome, client_state, hostid, userid, report_deadline, sent_time, received_time, name, cpu_time,
       batch, file_delete_state, validate_state, claimed_credit, granted_credit, opaque, random, app_version_num, appid, exit_status, teamid, priority,
       elapsed_time, flops_estimate, app_version_id, runtime_outlier, peak_working_set_size, peak_swap_size, peak_disk_usage)
     SELECT ?, id, 5, 1, 5, ?, ?, ?, ?, ?, CONCAT(name, '_', ?), 0, 0, 0, 1, 0, 0, 0, 0, 0, appid, 0, 0, 0, ?, 1e9, 0, 0, 0, 0, 0
       FROM workunit WHERE name = ?`,
    [now - 100, host, owner?.userid ?? 1, now + 86_400, now - 100, now, host, elapsed, input.wu_name],
  );
  const [[row]] = (await sql.query(
    'SELECT r.id, r.workunitid FROM result r JOIN workunit w ON w.id = r.workunitid WHERE w.name = ? AND r.hostid = ? ORDER BY r.id DESC LIMIT 1',
    [input.wu_name, host],
  )) as unknown as [{ id: number; workunitid: number }[]];
  if (!row) throw new Error(`workunit ${input.wu_name} does not exist in BOINC`);
  const file = join(lab.lab.root, `upload_${row.id}`);
  writeFileSync(file, JSON.stringify(report));
  await cli(lab, [
    'assimilate',
    input.wu_name,
    String(row.workunitid),
    String(row.id),
    elapsed.toFixed(6),
    file,
  ]);
  return row.id;
}

export interface Collected {
  result: number;
  verdict: string;
  credit: number;
  failed: string[];
}

/** Runs collect and returns its report. */
export async function collectRun(lab: AttackLab, run: string) {
  const result = await cli(lab, ['collect', '--run', run, '--json', '--no-plots']);
  return JSON.parse(result.stdout) as {
    collected: Collected[];
    held: { results: number[]; reason: string }[];
    requested: { name: string; host: number; kind: string }[];
  };
}

/** The review collect wrote for a result on its results branch. */
export function reviewOf(lab: AttackLab, run: string, id: number): Record<string, any> {
  const text = showFile(lab.lab.origin, resultsBranch(run), `results/walk/${run}.jsonl`) ?? '';
  const line = text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .find((l) => l.result === id);
  if (!line) throw new Error(`result ${id} is not in run ${run}`);
  return line.review;
}

/** A person merges a results pull request (after editing it, when `edit` is given), and main is pulled. */
export async function merge(lab: AttackLab, run: string, edit?: (credit: string) => string): Promise<void> {
  if (edit) {
    git(lab.lab.clone, 'fetch', '--quiet', 'origin', resultsBranch(run));
    git(lab.lab.clone, 'checkout', '--quiet', resultsBranch(run));
    const path = join(lab.lab.clone, 'results', 'credit', `${run}.yaml`);
    writeFileSync(path, edit(readFileSync(path, 'utf8')));
    git(lab.lab.clone, 'commit', '--quiet', '-am', 'Pay the held result');
    git(lab.lab.clone, 'push', '--quiet', 'origin', resultsBranch(run));
    git(lab.lab.clone, 'checkout', '--quiet', 'main');
  }
  const forge = new LocalForge({ repoDir: lab.lab.clone, remote: 'origin', identity: DEFAULT_IDENTITY });
  await forge.merge(resultsBranch(run), { approver: PERSON, at: new Date() });
  git(lab.lab.clone, 'pull', '--quiet', 'origin', 'main');
}

/** Commits a change to main as a person would merge one, and pulls it into the clone. */
export function commitToMain(lab: AttackLab, files: Record<string, string | null>, message: string): void {
  for (const [path, content] of Object.entries(files)) {
    if (content === null) git(lab.lab.clone, 'rm', '--quiet', path);
    else {
      writeFileSync(join(lab.lab.clone, path), content);
      git(lab.lab.clone, 'add', path);
    }
  }
  git(lab.lab.clone, 'commit', '--quiet', '-m', message);
  git(lab.lab.clone, 'push', '--quiet', 'origin', 'HEAD:main');
}

/** host → total_credit in BOINC's table. */
export async function hostCredit(lab: AttackLab): Promise<Map<number, number>> {
  const [rows] = (await lab.project.db.connection.query('SELECT id, total_credit FROM host')) as unknown as [
    { id: number; total_credit: number }[],
  ];
  return new Map(rows.map((r) => [r.id, Number(r.total_credit)]));
}
