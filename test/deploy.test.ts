import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { workunitInputName } from '../src/boinc/project.js';
import { hierarchyDir } from '../src/boinc/stage.js';
import { createTestProject, type TestProject } from './helpers/boinc-project.js';
import { makeRepo, manifestYaml, OK_SCRIPT, runCli } from './helpers/repo.js';

let project: TestProject;
let publishDir: string;
let env: NodeJS.ProcessEnv;

beforeEach(async () => {
  project = await createTestProject();
  publishDir = mkdtempSync(join(tmpdir(), 'axiom-publish-'));
  env = {
    PATH: process.env.PATH,
    AXIOM_DB_URL: project.db.url,
    AXIOM_BOINC_PROJECT_DIR: project.projectDir,
    AXIOM_PUBLISH_DIR: publishDir,
    AXIOM_SCRIPT_BASE_URL: 'https://boinc.example.org/axiom/',
  };
});

afterEach(async () => {
  await project.cleanup();
  rmSync(publishDir, { recursive: true, force: true });
});

/**
 * A workunit's wu.json as BOINC serves it: staged under a name that carries its content's hash, and
 * byte for byte what deploy recorded for it.
 */
async function stagedInput(name: string): Promise<Record<string, any>> {
  const [rows] = (await project.db.connection.query('SELECT input FROM axiom_workunit WHERE name = ?', [
    name,
  ])) as unknown as [{ input: string }[]];
  const recorded = rows[0]?.input as string;
  const file = workunitInputName(name, Buffer.from(recorded));
  const staged = readFileSync(join(project.projectDir, 'download', hierarchyDir(file, 1024), file), 'utf8');
  expect(staged).toBe(recorded);
  return JSON.parse(staged);
}

const sha12 = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);

async function workunits(): Promise<{ name: string; target_id: number }[]> {
  const [rows] = await project.db.connection.query(
    'SELECT w.name, a.target_id FROM workunit w JOIN assignment a ON a.workunitid = w.id ORDER BY w.name',
  );
  return rows as { name: string; target_id: number }[];
}

describe('axiom deploy', () => {
  it('creates exactly the planned workunits once, with their inputs and published script', async () => {
    const root = makeRepo({
      'manifests/mean_of_normals.yaml': manifestYaml('mean_of_normals'),
      'experiments/mean_of_normals.py': OK_SCRIPT,
    });
    const first = await runCli(['deploy'], { cwd: root, env });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('deploy: 3 created, 0 already present, 0 failed');
    const sha = sha12(OK_SCRIPT);
    const names = [
      `axm_mean_of_normals_${sha}_h267_r0`,
      `axm_mean_of_normals_${sha}_h60_r0`,
      `axm_mean_of_normals_${sha}_h60_r1`,
    ];
    expect(await workunits()).toEqual([
      { name: names[0], target_id: 267 },
      { name: names[1], target_id: 60 },
      { name: names[2], target_id: 60 },
    ]);
    const input = await stagedInput(names[2] as string);
    expect(input).toMatchObject({
      mode: 'experiment',
      experiment: 'mean_of_normals',
      wu_name: names[2],
      script_url: `https://boinc.example.org/axiom/experiments/mean_of_normals-${sha}.py`,
      run_duration: 120,
      cpus: 8,
    });
    // Replica 0 of every host shares a seed, replica 1 another; deploy drew both, not the manifest's 7 and 8.
    const seeds = await Promise.all(names.map(async (name) => (await stagedInput(name)).seed));
    expect(seeds[0]).toBe(seeds[1]);
    expect(seeds[2]).not.toBe(seeds[1]);
    expect([7, 8]).not.toContain(seeds[1]);
    expect([7, 8]).not.toContain(seeds[2]);
    // Nothing is staged under a name anyone could guess from the workunit's name.
    const guess = `${names[2]}.json`;
    expect(existsSync(join(project.projectDir, 'download', hierarchyDir(guess, 1024), guess))).toBe(false);
    expect(readFileSync(join(publishDir, 'experiments', `mean_of_normals-${sha}.py`), 'utf8')).toBe(
      OK_SCRIPT,
    );

    const second = await runCli(['deploy'], { cwd: root, env });
    expect(second.stdout).toContain('deploy: 0 created, 3 already present, 0 failed');
    expect(await workunits()).toHaveLength(3);
    // One create_work process per input template: host 60's and host 267's cores give two sets of bounds.
    const calls = readFileSync(join(project.projectDir, 'create_work.log'), 'utf8').trim().split('\n');
    expect(calls).toHaveLength(2);
    expect(new Set(calls.map((c) => /--wu_template (\S+)/.exec(c)?.[1])).size).toBe(2);
  });

  it("gives each workunit the cores and memory the manifest's memory model fits, as its rsc_memory_bound", async () => {
    const manifest = manifestYaml('mean_of_normals').replace(
      '  min_memory_gb: 1\n',
      '  min_memory_gb: 1\n  memory: { base_gb: 0.3, per_cpu_gb: 0.25, max_gb: 1.8 }\n',
    );
    const root = makeRepo({
      'manifests/mean_of_normals.yaml': manifest,
      'experiments/mean_of_normals.py': OK_SCRIPT,
    });
    const deployed = await runCli(['deploy'], { cwd: root, env });
    expect(deployed.code).toBe(0);
    const [rows] = await project.db.connection.query(
      'SELECT name, rsc_memory_bound FROM workunit ORDER BY name',
    );
    const sha = sha12(OK_SCRIPT);
    // Host 60 (8 cores): (1.8 - 0.3) / 0.25 = 6 cores fit in max_gb, 1.8 GB; host 267: its 4 cores, 1.3 GB.
    expect(rows).toEqual([
      { name: `axm_mean_of_normals_${sha}_h267_r0`, rsc_memory_bound: Math.ceil(1.3 * 2 ** 30) },
      { name: `axm_mean_of_normals_${sha}_h60_r0`, rsc_memory_bound: Math.ceil(1.8 * 2 ** 30) },
      { name: `axm_mean_of_normals_${sha}_h60_r1`, rsc_memory_bound: Math.ceil(1.8 * 2 ** 30) },
    ]);
    const input = await stagedInput(`axm_mean_of_normals_${sha}_h60_r0`);
    expect(input).toMatchObject({ cpus: 6, memory_gb: 1.8 });
  });

  it('creates new workunits under a new name when the script changes, and keeps serving the old script', async () => {
    const root = makeRepo({
      'manifests/mean_of_normals.yaml': manifestYaml('mean_of_normals'),
      'experiments/mean_of_normals.py': OK_SCRIPT,
    });
    await runCli(['deploy'], { cwd: root, env });
    const changed = `${OK_SCRIPT}# tuned\n`;
    writeFileSync(join(root, 'experiments', 'mean_of_normals.py'), changed);
    const result = await runCli(['deploy'], { cwd: root, env });
    expect(result.stdout).toContain('deploy: 3 created, 0 already present, 0 failed');
    expect((await workunits()).filter((w) => w.name.includes(sha12(changed)))).toHaveLength(3);
    expect(await workunits()).toHaveLength(6);
    expect(existsSync(join(publishDir, 'experiments', `mean_of_normals-${sha12(OK_SCRIPT)}.py`))).toBe(true);
  });

  it('shows what it would create on --dry-run and creates nothing', async () => {
    const root = makeRepo({
      'manifests/mean_of_normals.yaml': manifestYaml('mean_of_normals'),
      'experiments/mean_of_normals.py': OK_SCRIPT,
    });
    const result = await runCli(['deploy', '--dry-run', '--json'], {
      cwd: root,
      env: { PATH: process.env.PATH, AXIOM_DB_URL: project.db.url },
    });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ created: 0, present: 0, failed: 0, planned: 3 });
    expect(await workunits()).toEqual([]);
  });

  it('deploys nothing while axiom check finds errors', async () => {
    const root = makeRepo({
      'manifests/mean_of_normals.yaml': manifestYaml('mean_of_normals').replace('- host: 267', '- host: 999'),
      'experiments/mean_of_normals.py': OK_SCRIPT,
    });
    const result = await runCli(['deploy'], { cwd: root, env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('axiom check finds errors; nothing was deployed');
    expect(result.stderr).toContain('host 999 is not in the fleet');
    expect(await workunits()).toEqual([]);
  });
});

describe('axiom deploy of a retired manifest', () => {
  it('cancels the unsent workunits by error mask and keeps the ones already sent', async () => {
    const root = makeRepo({
      'manifests/mean_of_normals.yaml': manifestYaml('mean_of_normals'),
      'experiments/mean_of_normals.py': OK_SCRIPT,
    });
    await runCli(['deploy'], { cwd: root, env });
    const sha = sha12(OK_SCRIPT);
    // One workunit has been sent to its host: a result row in progress (server_state 4).
    await project.db.connection.query(
      `INSERT INTO result (create_time, workunitid, server_state, outcome, client_state, hostid, userid, report_deadline, sent_time, received_time, name, cpu_time,
         batch, file_delete_state, validate_state, claimed_credit, granted_credit, opaque, random, app_version_num, appid, exit_status, teamid, priority,
         elapsed_time, flops_estimate, app_version_id, runtime_outlier, peak_working_set_size, peak_swap_size, peak_disk_usage)
       SELECT 0, id, 4, 0, 0, 60, 1, 0, 0, 0, CONCAT(name, '_0'), 0, 0, 0, 0, 0, 0, 0, 0, 0, appid, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 FROM workunit WHERE name = ?`,
      [`axm_mean_of_normals_${sha}_h60_r0`],
    );
    writeFileSync(
      join(root, 'manifests', 'mean_of_normals.yaml'),
      `${manifestYaml('mean_of_normals')}retired: true\n`,
    );
    const result = await runCli(['deploy'], { cwd: root, env });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('deploy: 0 created, 0 already present, 0 failed, 2 cancelled (retired)');
    const [rows] = await project.db.connection.query('SELECT name, error_mask FROM workunit ORDER BY name');
    expect(rows).toEqual([
      { name: `axm_mean_of_normals_${sha}_h267_r0`, error_mask: 16 },
      { name: `axm_mean_of_normals_${sha}_h60_r0`, error_mask: 0 },
      { name: `axm_mean_of_normals_${sha}_h60_r1`, error_mask: 16 },
    ]);
    expect((await runCli(['deploy'], { cwd: root, env })).stdout).toContain(
      'deploy: 0 created, 0 already present, 0 failed\n',
    );
  });
});

describe('axiom deploy after a partial failure', () => {
  it('completes 1,000 workunits exactly once when create_work fails at the 500th and deploy runs again', async () => {
    const targets = [194, 296, 209, 249, 60].map((host) => `  - { host: ${host}, replicas: 100 }`).join('\n');
    const manifest = (name: string) =>
      manifestYaml(name).replace(
        /targets:\n(?: {2}- host: \d+\n(?: {4}replicas: \d+\n)?)+/,
        `targets:\n${targets}\n`,
      );
    const root = makeRepo({
      'manifests/bulk_first.yaml': manifest('bulk_first'),
      'experiments/bulk_first.py': OK_SCRIPT,
      'manifests/bulk_second.yaml': manifest('bulk_second'),
      'experiments/bulk_second.py': OK_SCRIPT,
    });
    // Every create_work process (one per input template) fails at its 150th job.
    const failing = await runCli(['deploy', '--json'], {
      cwd: root,
      env: { ...env, AXIOM_STAND_IN_FAIL_AT: '150' },
    });
    expect(failing.code).toBe(1);
    const first = JSON.parse(failing.stdout);
    expect(first.present).toBe(0);
    expect(first.failed).toBeGreaterThan(0);
    expect(first.created + first.failed).toBe(1000);
    const rerun = await runCli(['deploy', '--json'], { cwd: root, env });
    expect(rerun.code).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({
      created: first.failed,
      failed: 0,
      present: first.created,
    });
    const [[counts]] = (await project.db.connection.query(
      'SELECT COUNT(*) AS n, COUNT(DISTINCT name) AS names FROM workunit',
    )) as unknown as [[{ n: number; names: number }]];
    expect(counts).toEqual({ n: 1000, names: 1000 });
  }, 60_000);
});
