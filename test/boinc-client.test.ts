import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readEnvironment } from '../src/env/environment.js';
import { readClientReport, readReportFromStderr } from '../src/envelope/report.js';
import { SchemaValidator } from '../src/schema/validate.js';
import { renderWorkunitInput } from '../src/workunit/input.js';
import { WorkunitName } from '../src/workunit/name.js';
import { runTask, type TaskFile } from './helpers/boinc-client.js';
import { makeCertificate, StrictFileServer } from './helpers/https.js';
import { REPO_ROOT, runCli } from './helpers/repo.js';

// The volunteer side as BOINC runs it: the client stand-in (test/helpers/boinc-client.ts) running
// the app version `axiom app` assembles, with the wrapper stand-in (test/fixtures/boinc/wrapper.mjs)
// as its main program. Both name the BOINC source they follow.

const python = readEnvironment(process.env, process.cwd()).python;
const WRAPPER = join(REPO_ROOT, 'test/fixtures/boinc/wrapper.mjs');
const GOOD = [
  'import json, os',
  'json.dump({"experiment": "probe", "version": "1", "status": "ok", "seed": 3, "params": {}, "budget_seconds": 20,',
  '  "elapsed_seconds": 1, "metrics": {"cpus": int(os.environ["AXIOM_CPUS"])}, "series": {}, "summary": "s"},',
  '  open("experiment_result.json", "w"))',
  '',
].join('\n');
const FAILING = 'raise RuntimeError("the matrix was singular")\n';

const certificate = makeCertificate();
const server = new StrictFileServer(certificate);
let dir: string;

beforeAll(() => server.start());
afterAll(async () => {
  await server.stop();
  certificate.cleanup();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'axiom-boinc-client-'));
  chmodSync(dir, 0o755);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The app version `axiom app` assembles, with the wrapper stand-in and this machine's Python. */
async function appVersion(): Promise<string> {
  const runtime = join(dir, 'axiom_python');
  writeFileSync(runtime, `#!/bin/sh\nexec ${python} "$@"\n`);
  chmodSync(runtime, 0o755);
  const result = await runCli(
    [
      'app',
      '--version',
      '101',
      '--wrapper',
      WRAPPER,
      '--runtime',
      runtime,
      '--out',
      join(dir, 'apps'),
      '--json',
    ],
    { cwd: dir },
  );
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout).directory;
}

/** The workunit's wu.json and the result's output file, named as our templates name them. */
function taskFiles(name: string, script: string): { inputs: TaskFile[]; outputs: TaskFile[] } {
  const sha = createHash('sha256').update(script).digest('hex');
  const wuName = WorkunitName.format({ experiment: 'probe', scriptSha: sha, host: 7, replica: 0 });
  const url = server.expect(`/axiom/experiments/${name}-${sha.slice(0, 12)}.py`, script);
  const wu = join(dir, 'wu.json');
  writeFileSync(
    wu,
    renderWorkunitInput(
      {
        mode: 'experiment',
        experiment: 'probe',
        wu_name: wuName,
        script_url: url,
        script_sha256: sha,
        run_duration: 20,
        seed: 3,
        params: {},
        cpus: 8,
        memory_gb: 1,
      },
      new SchemaValidator(),
    ),
  );
  return {
    inputs: [{ open_name: 'wu.json', physical: `${wuName}.json`, copy: true, source: wu }],
    outputs: [{ open_name: 'axiom_result.json', physical: `${wuName}_r0_0`, copy: true }],
  };
}

const env = () => ({ PATH: process.env.PATH, SSL_CERT_FILE: certificate.certFile });

describe('the volunteer app under the BOINC client stand-in', () => {
  it('the client as main program, without a wrapper, exits 0 with no finish file: restarted, then aborted', async () => {
    // The app as it once was: axiom_client.py itself as the main program.
    const versionDir = join(dir, 'bare');
    mkdirSync(versionDir);
    const main = join(versionDir, 'axiom_main_1.sh');
    writeFileSync(
      main,
      `#!/bin/sh\nexec ${python} axiom_client.py --wu wu.json --out axiom_result.json --workdir run "$@"\n`,
    );
    chmodSync(main, 0o755);
    copyFileSync(join(REPO_ROOT, 'scripts/axiom_client.py'), join(versionDir, 'axiom_client_1.py'));
    copyFileSync(join(REPO_ROOT, 'scripts/axiom_sandbox.py'), join(versionDir, 'axiom_sandbox_1.py'));
    copyFileSync(
      join(REPO_ROOT, 'schemas/workunit.schema.json'),
      join(versionDir, 'axiom_workunit_schema_1.json'),
    );
    writeFileSync(
      join(versionDir, 'version.xml'),
      `<version>
    <file><physical_name>axiom_main_1.sh</physical_name><main_program/></file>
    <file><physical_name>axiom_client_1.py</physical_name><logical_name>axiom_client.py</logical_name><copy_file/></file>
    <file><physical_name>axiom_sandbox_1.py</physical_name><logical_name>axiom_sandbox.py</logical_name><copy_file/></file>
    <file><physical_name>axiom_workunit_schema_1.json</physical_name><logical_name>workunit.schema.json</logical_name><copy_file/></file>
</version>
`,
    );
    const task = await runTask({
      root: join(dir, 'client'),
      versionDir,
      ...taskFiles('bare', GOOD),
      nthreads: 2,
      env: env(),
      maxPrematureExits: 2,
    });
    expect(task.outcome).toBe('aborted');
    expect(task.starts).toBe(3);
    expect(task.log).toContain("exited with zero status but no 'finished' file");
    expect(task.stderrOut).toContain('too many exit(0)s');
    expect(task.uploaded).toEqual({});
  });

  it('runs the assembled app version: the wrapper runs the client with the reserved cores and finishes', async () => {
    const versionDir = await appVersion();
    const files = taskFiles('good', GOOD);
    const task = await runTask({ root: join(dir, 'client'), versionDir, ...files, nthreads: 2, env: env() });
    expect(task.outcome, task.stderrOut).toBe('success');
    expect(task.starts).toBe(1);
    const uploaded = task.uploaded[files.outputs[0]?.physical as string] as string;
    const read = readClientReport(readFileSync(uploaded));
    if (!('report' in read)) throw new Error(read.reason);
    expect(read.report).toMatchObject({ status: 'ok', envelope: { metrics: { cpus: 2 } } });
    expect(task.stderrOut).toMatch(/^<stderr_txt>\n[\s\S]*wrapper: called boinc_finish\(0\)/);
  });

  it("a failing script is a compute error whose stderr_out carries the client's reason", async () => {
    const versionDir = await appVersion();
    const files = taskFiles('failing', FAILING);
    const task = await runTask({ root: join(dir, 'client'), versionDir, ...files, nthreads: 1, env: env() });
    expect(task.outcome).toBe('compute_error');
    expect(task.exitStatus).toBe(195);
    expect(task.stderrOut).toMatch(/^<message>\nprocess exited with code 195/);
    const read = readReportFromStderr(task.stderrOut);
    if (!('report' in read)) throw new Error(read.reason);
    expect(read.report.status).toBe('failed');
    expect(JSON.stringify(read.report)).toContain('the matrix was singular');
    // The output file exists, so the client uploads it too (client/cs_apps.cpp app_finished);
    // the project sees no canonical result for the workunit, only the error mask and stderr_out.
    expect(Object.keys(task.uploaded)).toEqual([files.outputs[0]?.physical]);
  });
});
