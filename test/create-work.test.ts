import { readFileSync } from 'node:fs';
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
