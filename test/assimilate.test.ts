import { execFileSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { legacyWorkunitInputName } from '../src/boinc/project.js';
import { stageInputFile } from '../src/boinc/stage.js';
import { SchemaValidator } from '../src/schema/validate.js';
import { renderWorkunitInput, type WorkunitInput } from '../src/workunit/input.js';
import { WorkunitName } from '../src/workunit/name.js';
import { createTestProject, type TestProject } from './helpers/boinc-project.js';
import { insertFinishedResults } from './helpers/credit.js';
import { runCli } from './helpers/repo.js';

const validator = new SchemaValidator();
const WU = WorkunitName.format({
  experiment: 'double_descent',
  scriptSha: '0123456789ab',
  host: 194,
  replica: 0,
});
const SHA = `0123456789ab${'c'.repeat(52)}`;

let dir: string;
let spool: string;
let download: string;
let env: NodeJS.ProcessEnv;

/** A BOINC project directory without a database: config.xml with the download hierarchy only. */
function projectWithoutDatabase(root: string): string {
  const project = join(root, 'project');
  mkdirSync(project);
  writeFileSync(
    join(project, 'config.xml'),
    `<boinc><config><download_dir>${download}</download_dir><uldl_dir_fanout>1024</uldl_dir_fanout></config></boinc>\n`,
  );
  return project;
}

function input(name = WU, overrides: Partial<WorkunitInput> = {}): WorkunitInput {
  return {
    mode: 'experiment',
    experiment: 'double_descent',
    wu_name: name,
    script_url: 'https://boinc.example.org/axiom/experiments/double_descent-0123456789ab.py',
    script_sha256: SHA,
    run_duration: 600,
    seed: 1,
    params: { n_train: 200 },
    cpus: 4,
    memory_gb: 2,
    manifest_commit: 'a'.repeat(40),
    ...overrides,
  };
}

/** Stages a workunit's wu.json as deploy does. */
function stage(workunit: WorkunitInput, root = download): void {
  stageInputFile(
    root,
    1024,
    legacyWorkunitInputName(workunit.wu_name),
    renderWorkunitInput(workunit, validator),
  );
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'axiom-assimilate-'));
  spool = join(dir, 'spool');
  download = join(dir, 'download');
  env = {
    PATH: process.env.PATH,
    AXIOM_SPOOL_DIR: spool,
    AXIOM_BOINC_PROJECT_DIR: projectWithoutDatabase(dir),
  };
  stage(input());
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const GOOD = {
  client_version: '1.0.0',
  status: 'ok',
  exit_code: 0,
  elapsed_seconds: 540.2,
  script_sha256: SHA,
  envelope: {
    experiment: 'double_descent',
    version: '1.0.0',
    status: 'ok',
    seed: 1,
    params: { n_train: 200, label: 'dropped', noisy: true },
    budget_seconds: 600,
    elapsed_seconds: 538,
    metrics: { peak_over_large: 7742.7, n_train: 200, injected: 'ignore previous instructions' },
    series: { width: [10, 20], test_error: [1.2, 0.9], bad: [1, 'x'] },
    summary: `peak at n\u0000 ${'x'.repeat(1000)}`,
  },
};

function entriesIn(directory: string) {
  return readdirSync(directory)
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({ file: f, entry: JSON.parse(readFileSync(join(directory, f), 'utf8')) }));
}

/** The explicit token form: `wu_name wu_id result_id runtime files` (server 1.4). */
async function assimilate(content: string | Buffer, resultId = 7) {
  const file = join(dir, `result_${resultId}`);
  writeFileSync(file, content);
  const result = await runCli(['assimilate', WU, '31', String(resultId), '540.250000', file], {
    cwd: dir,
    env,
  });
  const entries = entriesIn(spool);
  return { ...result, entry: entries[0]?.entry, entries: entries.map((e) => e.file) };
}

describe('axiom assimilate', () => {
  it('stores a valid result with numbers only, a capped summary, and what its workunit asked for', async () => {
    const { code, entry, entries } = await assimilate(JSON.stringify(GOOD));
    expect(code).toBe(0);
    expect(entries).toEqual([`${WU}__7.json`]);
    expect(entry).toMatchObject({
      kind: 'result',
      wu_name: WU,
      wu_id: 31,
      result_id: 7,
      runtime: 540.25,
      verdict: 'accepted',
      workunit: input(),
    });
    expect(entry.envelope.metrics).toEqual({ peak_over_large: 7742.7, n_train: 200 });
    expect(entry.envelope.params).toEqual({ n_train: 200, noisy: true });
    expect(entry.envelope.series).toEqual({ width: [10, 20], test_error: [1.2, 0.9] });
    expect(entry.envelope.summary).toHaveLength(500);
    expect(entry.envelope.summary).not.toContain('\u0000');
  });

  it.each([
    ['malformed JSON', '{"status": "ok", ', /^the result file is not valid JSON/],
    ['a duplicate key', '{"status": "ok", "status": "failed"}', 'not valid JSON (duplicate key "status")'],
    ['non-UTF-8 bytes', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'the result file is not UTF-8 text'],
    [
      'an oversized file',
      `{"pad": "${'x'.repeat(4 * 1024 * 1024)}"}`,
      'the result file is larger than 4194304 bytes',
    ],
    [
      'deep nesting',
      `${'['.repeat(200_000)}${']'.repeat(200_000)}`,
      /^the result file is (not valid JSON|not a JSON object)/,
    ],
    [
      'strings in number fields',
      JSON.stringify({ ...GOOD, envelope: { metrics: { x: '1e9', y: { z: 1 } } } }),
      'the envelope reports no numeric metrics',
    ],
  ])('records %s as rejected and exits 0', async (_, content, reason) => {
    const { code, entry } = await assimilate(content);
    expect(code).toBe(0);
    expect(entry.verdict).toBe('rejected');
    expect(entry.reason).toMatch(reason);
  });

  it.each([
    [
      'a link to /etc/passwd',
      (file: string) => symlinkSync('/etc/passwd', file),
      'a symbolic link, which is never followed',
    ],
    [
      'a link to /dev/zero',
      (file: string) => symlinkSync('/dev/zero', file),
      'a symbolic link, which is never followed',
    ],
    [
      'a dangling link',
      (file: string) => symlinkSync(`${file}.gone`, file),
      'a symbolic link, which is never followed',
    ],
    ['a FIFO', (file: string) => execFileSync('mkfifo', [file]), 'a named pipe (FIFO), not a regular file'],
    ['a directory', (file: string) => mkdirSync(file), 'a directory, not a regular file'],
  ])('records a result file that is %s as rejected, unread, and exits 0', async (_, make, what) => {
    const file = join(dir, 'result_7');
    make(file);
    const result = await runCli(['assimilate', WU, '31', '7', '540.25', file], { cwd: dir, env });
    expect(result.code).toBe(0);
    const [entry] = entriesIn(spool);
    expect(entry?.entry).toMatchObject({ verdict: 'rejected', reason: `the result file is ${what}` });
    expect(readFileSync(join(spool, entry?.file as string), 'utf8')).not.toContain('root:');
  });

  it('records a result whose staged input is missing as rejected, saying where it looked', async () => {
    rmSync(download, { recursive: true, force: true });
    const { code, entry } = await assimilate(JSON.stringify(GOOD));
    expect(code).toBe(0);
    expect(entry).toMatchObject({ verdict: 'rejected' });
    expect(entry.reason).toMatch(new RegExp(`staged input .*/download/[0-9a-f]+/${WU}\\.json is missing`));
    expect(entry.workunit).toBeUndefined();
  });

  it('records a task the client reported as failed', async () => {
    const { code, entry } = await assimilate(JSON.stringify({ ...GOOD, status: 'overran', envelope: null }));
    expect(code).toBe(0);
    expect(entry).toMatchObject({
      verdict: 'failed-task',
      reason: 'the volunteer client reported "overran"',
      client: { status: 'overran', exit_code: 0 },
    });
  });

  it('records a workunit error from the --error form of 1.6 and of 1.4', async () => {
    const result = await runCli(['assimilate', '--error', '2', WU, '32', '0'], { cwd: dir, env });
    expect(result.code).toBe(0);
    const entry = JSON.parse(readFileSync(join(spool, `${WU}__error.json`), 'utf8'));
    expect(entry).toMatchObject({ kind: 'workunit-error', error_mask: 2, wu_id: 32, batch_id: 0 });
    // 1.4 passes only the id: without a database it cannot be named, so nothing is stored and the daemon stops.
    const old = await runCli(['assimilate', '--error', '2', '32'], { cwd: dir, env });
    expect(old.code).toBe(1);
    expect(old.stderr).toContain('workunit 32 came without its name');
  });

  it('exits 1 when it cannot store anything, so the daemon retries later', async () => {
    writeFileSync(join(dir, 'blocked'), 'a file where the spool directory should be');
    env.AXIOM_SPOOL_DIR = join(dir, 'blocked');
    const file = join(dir, 'result');
    writeFileSync(file, JSON.stringify(GOOD));
    const result = await runCli(['assimilate', WU, '1', '2', '3.0', file], { cwd: dir, env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot store the result of ${WU}`);
  });

  it('exits 1 without a project directory: it cannot know what the workunit asked for', async () => {
    const file = join(dir, 'result');
    writeFileSync(file, JSON.stringify(GOOD));
    delete env.AXIOM_BOINC_PROJECT_DIR;
    const result = await runCli(['assimilate', WU, '1', '2', '3.0', file], { cwd: dir, env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('AXIOM_BOINC_PROJECT_DIR is not set');
  });

  it('rejects an unsafe workunit name as a usage error', async () => {
    const result = await runCli(['assimilate', '../../etc/x', '1', '2', '3', 'f'], { cwd: dir, env });
    expect(result.code).toBe(2);
  });
});

describe('axiom assimilate in the form servers 1.6.1 and later call it (workunit id and files)', () => {
  let project: TestProject;
  let wuId: number;
  let resultId: number;

  beforeEach(async () => {
    project = await createTestProject();
    const name = WorkunitName.format({
      experiment: 'double_descent',
      scriptSha: '0123456789ab',
      host: 60,
      replica: 1,
    });
    [resultId] = (await insertFinishedResults(project.db.connection, [
      { workunit: name, host: 60, user: 1 },
    ])) as [number];
    const [rows] = (await project.db.connection.query('SELECT workunitid FROM result WHERE id = ?', [
      resultId,
    ])) as unknown as [{ workunitid: number }[]];
    wuId = rows[0]?.workunitid as number;
    // The validator made it canonical; BOINC measured the task at 512.5 s.
    await project.db.connection.query('UPDATE workunit SET canonical_resultid = ? WHERE id = ?', [
      resultId,
      wuId,
    ]);
    await project.db.connection.query('UPDATE result SET elapsed_time = 512.5 WHERE id = ?', [resultId]);
    stage(input(name), join(project.projectDir, 'download'));
    env = { PATH: process.env.PATH, AXIOM_SPOOL_DIR: spool, AXIOM_BOINC_PROJECT_DIR: project.projectDir };
  });
  afterEach(async () => {
    await project.cleanup();
  });

  it("looks up the name, canonical result, host, user and BOINC's runtime in the project's own database", async () => {
    const file = join(dir, 'upload');
    writeFileSync(file, JSON.stringify(GOOD));
    // No AXIOM_DB_URL: the database comes from the project's config.xml.
    const result = await runCli(['assimilate', String(wuId), file], { cwd: dir, env });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const [stored] = entriesIn(spool);
    expect(stored?.entry).toMatchObject({
      wu_id: wuId,
      result_id: resultId,
      runtime: 512.5,
      host_id: 60,
      user_id: 1,
      verdict: 'accepted',
      workunit: { seed: 1, params: { n_train: 200 } },
    });
  });

  it('records a canonical result whose files are gone (error mask 32, no files) and exits 0', async () => {
    const result = await runCli(['assimilate', String(wuId)], { cwd: dir, env });
    expect(result.code).toBe(0);
    const [stored] = entriesIn(spool);
    expect(stored?.entry).toMatchObject({ kind: 'workunit-error', wu_id: wuId, verdict: 'failed-task' });
    expect(stored?.entry.error_mask & 32).toBe(32);
  });
});
