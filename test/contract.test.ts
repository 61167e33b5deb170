import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readProjectLayout, stagedPath, workunitInputName } from '../src/boinc/project.js';
import { readEnvironment } from '../src/env/environment.js';
import { CLIENT_SCRIPT } from '../src/runner/run.js';
import { createTestProject, type TestProject } from './helpers/boinc-project.js';
import { git, type Lab, makeLab } from './helpers/git.js';
import { manifestYaml, REPO_ROOT, runCli } from './helpers/repo.js';

const python = readEnvironment(process.env, process.cwd()).python;

/** A script that keeps the contract: it echoes seed and params and uses about half its budget. */
const SCRIPT = `import json, os, time
import numpy as np

seed = int(os.environ["AXIOM_SEED"])
params = json.loads(os.environ["AXIOM_PARAMS"])
budget = float(os.environ["AXIOM_RUN_DURATION"])
started = time.monotonic()
values = np.random.default_rng(seed).standard_normal(int(params.get("draws", 100)))
time.sleep(budget * 0.5)
running = np.cumsum(values) / np.arange(1, values.size + 1)
with open("experiment_result.json", "w") as handle:
    json.dump({"experiment": "mean_test", "version": "1", "status": "ok", "seed": seed, "params": params,
               "budget_seconds": budget, "elapsed_seconds": time.monotonic() - started,
               "metrics": {"mean": float(values.mean())},
               "series": {"n": list(range(1, 4)), "running_mean": [float(v) for v in running[:3]]},
               "summary": "the mean of normal draws"}, handle)
`;

const MANIFEST = manifestYaml('mean_test')
  .replace('run_duration: 120', 'run_duration: 4')
  .replace(
    '  - host: 60\n    replicas: 2\n  - host: 267\n',
    '  - host: 60\n    params: { draws: 500 }\n  - host: 267\n    params: { draws: 50 }\n',
  );

let project: TestProject;
let lab: Lab;
let work: string;

beforeEach(async () => {
  project = await createTestProject();
  work = mkdtempSync(join(tmpdir(), 'axiom-contract-'));
  lab = makeLab({
    'manifests/mean_test.yaml': MANIFEST,
    'experiments/mean_test.py': SCRIPT,
    'fleet.yaml': readFileSync(join(REPO_ROOT, 'fleet.yaml'), 'utf8'),
    'axiom.yaml': readFileSync(join(REPO_ROOT, 'axiom.yaml'), 'utf8').replace('min: 30,', 'min: 1,'),
  });
});
afterEach(async () => {
  await project.cleanup();
  rmSync(work, { recursive: true, force: true });
});

/** Runs the reference client in a slot directory the way BOINC's wrapper would, on the staged file. */
function runClient(wuFile: string, slot: string): Promise<number | null> {
  mkdirSync(slot, { recursive: true });
  writeFileSync(join(slot, 'wu.json'), readFileSync(wuFile));
  return new Promise((resolve) => {
    spawn(
      python,
      [
        CLIENT_SCRIPT,
        '--wu',
        'wu.json',
        '--out',
        'axiom_result.json',
        '--workdir',
        'run',
        '--allow-file-urls',
        '--nthreads',
        '1',
      ],
      { cwd: slot, stdio: 'ignore', env: { PATH: process.env.PATH } },
    ).on('close', resolve);
  });
}

describe('the workunit contract end to end', () => {
  it('carries what deploy staged through the client and the assimilator to collect, which judges by it', async () => {
    const publish = join(work, 'publish');
    const env = {
      PATH: process.env.PATH,
      HOME: work,
      AXIOM_DB_URL: project.db.url,
      AXIOM_BOINC_PROJECT_DIR: project.projectDir,
      AXIOM_PUBLISH_DIR: publish,
      AXIOM_SCRIPT_BASE_URL: pathToFileURL(`${publish}/`).href,
      AXIOM_SPOOL_DIR: join(work, 'spool'),
      AXIOM_FORGE: 'local',
    };
    const deployed = await runCli(['deploy', '--json'], { cwd: lab.clone, env });
    expect(deployed.stderr).toBe('');
    expect(JSON.parse(deployed.stdout)).toMatchObject({ created: 2, failed: 0 });
    const commit = git(lab.clone, 'rev-parse', 'HEAD');

    // Today's manifest moves on after the deploy: collect must judge by what the workunits carried.
    writeFileSync(join(lab.clone, 'manifests/mean_test.yaml'), MANIFEST.replace('base: 7', 'base: 1000'));
    git(lab.clone, 'commit', '--quiet', '-am', 'Another seed for the next deploy');
    git(lab.clone, 'push', '--quiet', 'origin', 'main');

    const layout = readProjectLayout(project.projectDir);
    const [rows] = (await project.db.connection.query(
      `SELECT w.id, w.name, a.target_id AS host, d.input FROM workunit w JOIN assignment a ON a.workunitid = w.id
         JOIN axiom_workunit d ON d.name = w.name ORDER BY w.id`,
    )) as unknown as [{ id: number; name: string; host: number; input: string }[]];
    const runs = await Promise.all(
      rows.map(async (wu) => {
        // Staged under a name that carries its content's hash: what deploy recorded, byte for byte.
        const staged = stagedPath(layout, workunitInputName(wu.name, Buffer.from(wu.input)));
        expect(readFileSync(staged, 'utf8')).toBe(wu.input);
        const slot = join(work, 'slots', wu.name);
        const started = Date.now();
        expect(await runClient(staged, slot)).toBe(0);
        return { wu, slot, staged, seconds: (Date.now() - started) / 1000 };
      }),
    );
    for (const { wu, slot, staged, seconds } of runs) {
      // What BOINC does between the client and the assimilator: a result row, made canonical.
      await project.db.connection.query(
        `INSERT INTO result (create_time, workunitid, server_state, outcome, client_state, hostid, userid, report_deadline,
           sent_time, received_time, name, cpu_time, xml_doc_in, xml_doc_out, stderr_out, batch, file_delete_state,
           validate_state, claimed_credit, granted_credit, opaque, random, app_version_num, appid, exit_status, teamid,
           priority, elapsed_time, flops_estimate, app_version_id, runtime_outlier, size_class, peak_working_set_size,
           peak_swap_size, peak_disk_usage)
         VALUES (0, ?, 5, 1, 5, ?, 1, 0, 0, 0, ?, ?, '', '', '', 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, ?, 0, 0, 0, -1, 0, 0, 0)`,
        [wu.id, wu.host, `${wu.name}_0`, seconds, seconds],
      );
      await project.db.connection.query(
        'UPDATE workunit SET canonical_resultid = LAST_INSERT_ID(), assimilate_state = 1 WHERE id = ?',
        [wu.id],
      );
      // BOINC's script_assimilator on a current server: `axiom_assimilate <wu_id> <files>`.
      const assimilated = await runCli(['assimilate', String(wu.id), join(slot, 'axiom_result.json')], {
        cwd: work,
        env: {
          PATH: process.env.PATH,
          AXIOM_SPOOL_DIR: env.AXIOM_SPOOL_DIR,
          AXIOM_BOINC_PROJECT_DIR: project.projectDir,
        },
      });
      expect(assimilated.stdout).toContain('assimilate: accepted');
      const entry = JSON.parse(
        readFileSync(
          join(
            env.AXIOM_SPOOL_DIR,
            readdirSync(env.AXIOM_SPOOL_DIR).find((f) => f.startsWith(wu.name)) as string,
          ),
          'utf8',
        ),
      );
      // The spool entry carries exactly what deploy staged.
      expect(entry.workunit).toEqual(JSON.parse(readFileSync(staged, 'utf8')));
      expect(entry.workunit).toMatchObject({
        manifest_commit: commit,
        params: { draws: wu.host === 60 ? 500 : 50 },
      });
      // Deploy drew the seed: not the manifest's, which is public.
      expect(entry.workunit.seed).not.toBe(7);
      expect(entry.client.script_sha256).toBe(entry.workunit.script_sha256);
    }

    const collected = await runCli(['collect', '--json', '--no-plots'], { cwd: lab.clone, env });
    expect(collected.stderr).toBe('');
    const report = JSON.parse(collected.stdout);
    expect(report.collected.map((c: { verdict: string; failed: string[] }) => [c.verdict, c.failed])).toEqual(
      [
        ['valid', []],
        ['valid', []],
      ],
    );
    // --no-plots: the results pull request has no SVG at all.
    expect(report.batches).toHaveLength(1);
    const files = git(lab.origin, 'ls-tree', '-r', '--name-only', report.batches[0].branch);
    expect(files).toContain(`results/mean_test/${report.run}.jsonl`);
    expect(files).not.toMatch(/\.svg/);
  }, 60_000);
});
