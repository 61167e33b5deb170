import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CreateWorkJobCreator, installResultTemplate } from '../src/boinc/create-work.js';
import type { JobSpec } from '../src/boinc/jobs.js';
import { openMysqlStore } from '../src/boinc/mysql.js';
import { readProjectLayout } from '../src/boinc/project.js';
import { createTestProject, type TestProject } from './helpers/boinc-project.js';
import { insertResult, type TestDatabase } from './helpers/mariadb.js';

let project: TestProject;
let db: TestDatabase;
let projectDir: string;

beforeEach(async () => {
  project = await createTestProject();
  db = project.db;
  projectDir = project.projectDir;
});

afterEach(() => project.cleanup());

function jobs(count: number): JobSpec[] {
  return Array.from({ length: count }, (_, i) => ({
    wuName: `axm_probe_0123456789ab_h${60 + (i % 3)}_r${i}`,
    host: 60 + (i % 3),
    input: Buffer.from(`{"mode": "experiment", "replica": ${i}}\n`),
    bounds: {
      fpopsEst: 6e11,
      fpopsBound: 6e12,
      memoryBound: 2 * 2 ** 30,
      diskBound: 1e9,
      delayBound: 259_200,
    },
  }));
}

function creator(env: NodeJS.ProcessEnv = {}) {
  const store = openMysqlStore(db.url);
  const jobCreator = new CreateWorkJobCreator({
    layout: readProjectLayout(projectDir),
    app: 'axiom',
    existingWorkunits: (names) => store.existingWorkunits(names),
    env: { PATH: process.env.PATH, ...env },
  });
  return { jobCreator, close: () => store.close() };
}

describe('create_work job creator', () => {
  it('gives every targeted workunit its own bounds with one create_work process per input template', async () => {
    installResultTemplate(projectDir);
    const small = jobs(4).slice(0, 2);
    const large = jobs(4)
      .slice(2)
      .map((j) => ({
        ...j,
        bounds: { ...j.bounds, fpopsEst: 9e12, fpopsBound: 9e13, memoryBound: 8 * 2 ** 30 },
      }));
    const { jobCreator, close } = creator();
    expect(jobCreator.processesFor([...small, ...large])).toBe(2);
    const outcome = await jobCreator.createJobs([...small, ...large]);
    await close();
    expect(outcome.failed).toEqual([]);
    const log = readFileSync(join(projectDir, 'create_work.log'), 'utf8').trim().split('\n');
    expect(log).toHaveLength(2);
    for (const line of log) expect(line).toMatch(/--wu_template templates\/axiom_in_[0-9a-f]{10} /);
    const [rows] = (await db.connection.query(
      'SELECT name, rsc_fpops_bound, rsc_memory_bound FROM workunit ORDER BY name',
    )) as unknown as [{ name: string; rsc_fpops_bound: number; rsc_memory_bound: number }[]];
    const bound = new Map(rows.map((r) => [r.name, [r.rsc_fpops_bound, r.rsc_memory_bound]]));
    for (const j of small) expect(bound.get(j.wuName)).toEqual([6e12, 2 * 2 ** 30]);
    for (const j of large) expect(bound.get(j.wuName)).toEqual([9e13, 8 * 2 ** 30]);
  });

  it("is a stand-in with real create_work's quirks: a targeted line ignores its own --wu_template", async () => {
    // What the old layout did (a per-line template, no global one) fails as on a real server.
    installResultTemplate(projectDir);
    const template = join(projectDir, 'templates', 'own_in');
    writeFileSync(
      template,
      '<input_template><file_info/><workunit><file_ref><open_name>wu.json</open_name></file_ref></workunit></input_template>',
    );
    const run = spawnSync(join(projectDir, 'bin', 'create_work'), ['--appname', 'axiom', '--stdin'], {
      cwd: projectDir,
      input:
        '--wu_name axm_probe_0123456789ab_h60_r9 --wu_template templates/own_in --target_host 60 x.json\n',
      encoding: 'utf8',
      env: { PATH: process.env.PATH, BOINC_PROJECT_DIR: projectDir },
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('process_input_template: bad WU template - no <workunit>');
    // BOINC's tools accept a directory as a project only with config.xml and cgi-bin/.
    rmSync(join(projectDir, 'cgi-bin'), { recursive: true });
    const outside = spawnSync(join(projectDir, 'bin', 'create_work'), ['--appname', 'axiom'], {
      cwd: projectDir,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, BOINC_PROJECT_DIR: projectDir },
    });
    expect(outside.status).toBe(1);
    expect(outside.stderr).toContain('BOINC_PROJECT_DIR env var exists but is not a project dir');
  });

  it('creates targeted workunits and assignments with one create_work process', async () => {
    installResultTemplate(projectDir);
    const { jobCreator, close } = creator();
    const outcome = await jobCreator.createJobs(jobs(3));
    await close();
    expect(outcome).toEqual({ created: jobs(3).map((j) => j.wuName), failed: [] });
    expect(readFileSync(join(projectDir, 'create_work.log'), 'utf8').trim().split('\n')).toHaveLength(1);
    const [rows] = await db.connection.query(
      'SELECT w.name, w.transitioner_flags, w.rsc_fpops_bound, w.delay_bound, w.target_nresults, a.target_id, a.target_type FROM workunit w JOIN assignment a ON a.workunitid = w.id ORDER BY w.id',
    );
    expect(rows).toEqual(
      jobs(3).map((j) => ({
        name: j.wuName,
        transitioner_flags: 2,
        rsc_fpops_bound: 6e12,
        delay_bound: 259_200,
        target_nresults: 1,
        target_id: j.host,
        target_type: 1,
      })),
    );
  });

  it('reports each job a failed create_work did not create, and a rerun of those completes 1,000 exactly once', async () => {
    installResultTemplate(projectDir);
    const all = jobs(1000);
    const first = creator({ AXIOM_STAND_IN_FAIL_AT: '500' });
    const partial = await first.jobCreator.createJobs(all);
    await first.close();
    expect(partial.created).toHaveLength(499);
    expect(partial.failed).toHaveLength(501);
    expect(partial.failed[0]).toEqual({
      name: all[499]?.wuName,
      reason: 'create_work exited 1: create_work() failed: MySQL error: injected failure',
    });
    const second = creator();
    const rest = await second.jobCreator.createJobs(
      all.filter((j) => partial.failed.some((f) => f.name === j.wuName)),
    );
    await second.close();
    expect(rest.failed).toEqual([]);
    const [[counts]] = (await db.connection.query(
      'SELECT COUNT(*) AS n, COUNT(DISTINCT name) AS names FROM workunit',
    )) as unknown as [[{ n: number; names: number }]];
    expect(counts).toEqual({ n: 1000, names: 1000 });
  });

  it('catches create_work exiting 0 without inserting (missing result template)', async () => {
    const { jobCreator, close } = creator();
    const outcome = await jobCreator.createJobs(jobs(2));
    await close();
    expect(outcome.created).toEqual([]);
    expect(outcome.failed.map((f) => f.reason)).toEqual([
      "create_work exited 0 but inserted no workunit row (create_work: result template file templates/axiom_out doesn't exist)",
      "create_work exited 0 but inserted no workunit row (create_work: result template file templates/axiom_out doesn't exist)",
    ]);
    const [assignments] = await db.connection.query('SELECT workunitid FROM assignment');
    expect(assignments).toEqual([{ workunitid: 0 }, { workunitid: 0 }]);
  });
});

describe('results of the app', () => {
  it('lists results of our app with state, outcome, elapsed time, host and user, in pages', async () => {
    installResultTemplate(projectDir);
    const { jobCreator, close } = creator();
    await jobCreator.createJobs(jobs(3));
    await close();
    await db.connection.query(
      "INSERT INTO app (create_time, name, user_friendly_name) VALUES (0, 'other', 'Other')",
    );
    const [[other]] = (await db.connection.query("SELECT id FROM app WHERE name = 'other'")) as unknown as [
      [{ id: number }],
    ];
    await db.connection.query('UPDATE workunit SET appid = ? WHERE name = ?', [other.id, jobs(3)[2]?.wuName]);
    for (const [i, job] of jobs(3).entries()) {
      await insertResult(db.connection, job.wuName, {
        hostid: job.host,
        userid: 1 + i,
        server_state: 5,
        outcome: 1,
        elapsed_time: 100 + i,
        teamid: 7,
      });
    }
    const store = openMysqlStore(db.url);
    const firstPage = await store.resultsOfApp('axiom', 0, 1);
    const rest = await store.resultsOfApp('axiom', firstPage[0]?.id ?? 0, 10);
    await store.close();
    expect(
      [...firstPage, ...rest].map((r) => [
        r.workunitName,
        r.name,
        r.serverState,
        r.outcome,
        r.elapsedTime,
        r.hostId,
        r.userId,
        r.teamId,
      ]),
    ).toEqual([
      [jobs(3)[0]?.wuName, `${jobs(3)[0]?.wuName}_0`, 5, 1, 100, 60, 1, 7],
      [jobs(3)[1]?.wuName, `${jobs(3)[1]?.wuName}_0`, 5, 1, 101, 61, 2, 7],
    ]);
  });
});
