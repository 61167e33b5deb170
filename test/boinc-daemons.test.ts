import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installResultTemplate } from '../src/boinc/create-work.js';
import { legacyWorkunitInputName, stagedPath } from '../src/boinc/project.js';
import { stageInputFile } from '../src/boinc/stage.js';
import { SchemaValidator } from '../src/schema/validate.js';
import { renderWorkunitInput } from '../src/workunit/input.js';
import { WorkunitName } from '../src/workunit/name.js';
import { createTestProject, type TestProject } from './helpers/boinc-project.js';
import { insertFinishedResults } from './helpers/credit.js';
import { FIXTURES, REPO_ROOT } from './helpers/repo.js';

// axiom_assimilate as BOINC's script_assimilator calls it, through a stand-in of the daemon that
// splits --script the way each server release does (test/fixtures/boinc/script_assimilator.mjs).
const validator = new SchemaValidator();
const SHA = `abcdef012345${'0'.repeat(52)}`;
const NAME = WorkunitName.format({ experiment: 'mean_test', scriptSha: SHA, host: 60, replica: 0 });
const REPORT = {
  status: 'ok',
  exit_code: 0,
  elapsed_seconds: 100,
  script_sha256: SHA,
  isolation: 'sandbox',
  envelope: {
    experiment: 'mean_test',
    version: '1',
    status: 'ok',
    seed: 7,
    params: {},
    budget_seconds: 120,
    elapsed_seconds: 99,
    metrics: { mean: 0.01 },
    series: {},
    summary: 'ok',
  },
};

let project: TestProject;
let spool: string;
let wuId: number;

beforeEach(async () => {
  project = await createTestProject();
  installResultTemplate(project.projectDir);
  spool = join(project.projectDir, 'spool');
  symlinkSync(
    join(REPO_ROOT, 'scripts', 'boinc', 'axiom_assimilate'),
    join(project.projectDir, 'bin', 'axiom_assimilate'),
  );
  stageInputFile(
    join(project.projectDir, 'download'),
    1024,
    legacyWorkunitInputName(NAME),
    renderWorkunitInput(
      {
        mode: 'experiment',
        experiment: 'mean_test',
        wu_name: NAME,
        script_url: 'https://boinc.example.org/axiom/experiments/mean_test-abcdef012345.py',
        script_sha256: SHA,
        run_duration: 120,
        seed: 7,
        params: {},
        cpus: 1,
        memory_gb: 1,
      },
      validator,
    ),
  );
  const [resultId] = await insertFinishedResults(project.db.connection, [
    { workunit: NAME, host: 60, user: 1 },
  ]);
  // What the scheduler wrote for the result, and the file the client uploaded.
  const file = `${NAME}_0_r1_0`;
  const xml = `<file_info>\n    <name>${file}</name>\n</file_info>\n<result>\n    <file_ref>\n        <file_name>${file}</file_name>\n        <open_name>axiom_result.json</open_name>\n    </file_ref>\n</result>\n`;
  await project.db.connection.query('UPDATE result SET xml_doc_in = ?, elapsed_time = 101.5 WHERE id = ?', [
    xml,
    resultId,
  ]);
  const [rows] = (await project.db.connection.query('SELECT workunitid FROM result WHERE id = ?', [
    resultId,
  ])) as unknown as [{ workunitid: number }[]];
  wuId = rows[0]?.workunitid as number;
  await project.db.connection.query(
    'UPDATE workunit SET canonical_resultid = ?, assimilate_state = 1 WHERE id = ?',
    [resultId, wuId],
  );
  const upload = stagedPath({ downloadDir: join(project.projectDir, 'upload'), fanout: 1024 }, file);
  mkdirSync(join(upload, '..'), { recursive: true });
  writeFileSync(upload, JSON.stringify(REPORT));
});
afterEach(() => project.cleanup());

function daemon(release: '1.4' | '1.6', script: string) {
  const cwd = join(project.projectDir, 'tmp_test');
  mkdirSync(cwd, { recursive: true });
  return spawnSync(
    process.execPath,
    [join(FIXTURES, 'boinc', 'script_assimilator.mjs'), '--app', 'axiom', '--script', script, '--one_pass'],
    {
      cwd,
      encoding: 'utf8',
      // cron's PATH, as `bin/start --cron` leaves it: Node is named by its full path.
      env: {
        PATH: '/usr/bin:/bin',
        AXIOM_NODE: process.execPath,
        AXIOM_HOME: REPO_ROOT,
        AXIOM_SPOOL_DIR: spool,
        AXIOM_STAND_IN_BOINC_RELEASE: release,
      },
    },
  );
}

async function assimilateState(): Promise<number> {
  const [rows] = (await project.db.connection.query('SELECT assimilate_state FROM workunit WHERE id = ?', [
    wuId,
  ])) as unknown as [{ assimilate_state: number }[]];
  return rows[0]?.assimilate_state as number;
}

const entries = () => readdirSync(spool).map((f) => JSON.parse(readFileSync(join(spool, f), 'utf8')));

describe('axiom_assimilate under script_assimilator', () => {
  it.each(['1.6', '1.4'] as const)(
    'works on server %s with the configuration README gives (no token list)',
    async (release) => {
      const run = daemon(release, 'axiom_assimilate');
      expect(run.stderr).toContain(
        `invoking script: ../bin/axiom_assimilate${release === '1.6' ? ' ' : ''} ${wuId} `,
      );
      expect(run.status).toBe(0);
      expect(await assimilateState()).toBe(2);
      expect(entries()).toMatchObject([
        {
          wu_name: NAME,
          wu_id: wuId,
          runtime: 101.5,
          host_id: 60,
          verdict: 'accepted',
          workunit: { seed: 7 },
        },
      ]);
    },
  );

  it('on 1.6 and later, a token list reaches the script as nothing at all: the daemon stops, and says how to fix it', async () => {
    const run = daemon('1.6', 'axiom_assimilate wu_name wu_id result_id runtime files');
    expect(run.stderr).toContain('invoking script: ../bin/axiom_assimilate \n');
    expect(run.stderr).toContain('use --script axiom_assimilate (no tokens)');
    expect(run.stderr).toContain('error 512 from script');
    expect(await assimilateState()).toBe(1);
  });

  it('records a failed workunit from the --error form of either release, named from the database', async () => {
    await project.db.connection.query(
      'UPDATE workunit SET canonical_resultid = 0, error_mask = 2 WHERE id = ?',
      [wuId],
    );
    for (const release of ['1.4', '1.6'] as const) {
      await project.db.connection.query('UPDATE workunit SET assimilate_state = 1 WHERE id = ?', [wuId]);
      const run = daemon(release, 'axiom_assimilate');
      expect(run.status).toBe(0);
      expect(run.stderr).toContain(
        release === '1.4' ? `--error 2 ${wuId}\n` : `--error 2 ${NAME} ${wuId} 0\n`,
      );
      expect(entries().find((e) => e.kind === 'workunit-error')).toMatchObject({
        wu_name: NAME,
        error_mask: 2,
      });
    }
  });

  it('records a canonical result BOINC lost (error mask 32, no files) and moves on', async () => {
    await project.db.connection.query('UPDATE workunit SET canonical_resultid = 999999 WHERE id = ?', [wuId]);
    const run = daemon('1.6', 'axiom_assimilate');
    expect(run.status).toBe(0);
    expect(await assimilateState()).toBe(2);
    expect(entries()).toMatchObject([{ kind: 'workunit-error', error_mask: 32 }]);
  });
});
