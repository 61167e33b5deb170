import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inputTemplate } from '../src/boinc/create-work.js';
import { readEnvironment } from '../src/env/environment.js';
import { SchemaValidator } from '../src/schema/validate.js';
import { renderWorkunitInput } from '../src/workunit/input.js';
import { WorkunitName } from '../src/workunit/name.js';
import { REPO_ROOT, runCli } from './helpers/repo.js';

const python = readEnvironment(process.env, process.cwd()).python;
let dir: string;
let wrapper: string;
let runtime: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'axiom-app-'));
  chmodSync(dir, 0o755);
  wrapper = join(dir, 'wrapper_bin');
  writeFileSync(wrapper, '#!/bin/sh\necho "a BOINC wrapper"\n');
  // A runtime for this test: the interpreter the tests use, behind the name the app gives it.
  runtime = join(dir, 'axiom_python');
  writeFileSync(runtime, `#!/bin/sh\nexec ${python} "$@"\n`);
  chmodSync(runtime, 0o755);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

interface VersionFile {
  physical: string;
  logical?: string;
  main: boolean;
  copy: boolean;
}

/** version.xml's <file> entries, read the way update_versions reads them. */
function versionFiles(text: string): VersionFile[] {
  expect(text.trim()).toMatch(/^<version>[\s\S]*<\/version>$/);
  return [...text.matchAll(/<file>([\s\S]*?)<\/file>/g)].map((m) => {
    const body = m[1] as string;
    const logical = /<logical_name>([^<]+)<\/logical_name>/.exec(body)?.[1];
    return {
      physical: /<physical_name>([^<]+)<\/physical_name>/.exec(body)?.[1] as string,
      ...(logical ? { logical } : {}),
      main: body.includes('<main_program/>'),
      copy: body.includes('<copy_file/>'),
    };
  });
}

async function assemble(platform: string, version = '101') {
  const result = await runCli(
    [
      'app',
      '--platform',
      platform,
      '--version',
      version,
      '--wrapper',
      wrapper,
      '--runtime',
      runtime,
      '--out',
      join(dir, 'apps'),
      '--json',
    ],
    { cwd: dir },
  );
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout);
}

describe('axiom app', () => {
  it.each([
    ['x86_64-pc-linux-gnu', ''],
    ['windows_x86_64', '.exe'],
  ])(
    'assembles a %s app version that update_versions can install, every name consistent',
    async (platform, exe) => {
      const report = await assemble(platform);
      const versionDir = join(dir, 'apps', 'axiom', '101', `${platform}__mt`);
      expect(report.directory).toBe(versionDir);
      const files = versionFiles(readFileSync(join(versionDir, 'version.xml'), 'utf8'));
      expect(readFileSync(join(versionDir, 'version.xml'), 'utf8')).toContain('<is_wrapper/>');
      // Every file listed is there, and nothing else but version.xml.
      expect(readdirSync(versionDir).sort()).toEqual([...files.map((f) => f.physical), 'version.xml'].sort());
      expect(files.filter((f) => f.main).map((f) => f.physical)).toEqual([
        `axiom_wrapper_101_${platform}${exe}`,
      ]);
      // Physical names carry the version (BOINC files never change); logical names are unique.
      for (const f of files) expect(f.physical).toContain('101');
      const logical = files.flatMap((f) => (f.logical ? [f.logical] : []));
      expect(new Set(logical).size).toBe(logical.length);
      // job.xml: its application is a file of the version, its command line keeps the contract.
      const job = readFileSync(
        join(versionDir, files.find((f) => f.logical === 'job.xml')?.physical as string),
        'utf8',
      );
      const application = /<application>([^<]+)<\/application>/.exec(job)?.[1];
      expect(logical).toContain(application);
      expect(application).toBe(`axiom_python${exe}`);
      const commandLine = /<command_line>([^<]+)<\/command_line>/.exec(job)?.[1] as string;
      expect(commandLine).toContain('--nthreads $NTHREADS');
      expect(job).toContain('<multi_process/>');
      // The files it names are the ones the templates give the slot: wu.json in, axiom_result.json out.
      expect(commandLine).toContain('--wu wu.json');
      expect(
        inputTemplate({ fpopsEst: 1, fpopsBound: 1, memoryBound: 1, diskBound: 1, delayBound: 1 }),
      ).toContain('<open_name>wu.json</open_name>');
      expect(commandLine).toContain('--out axiom_result.json');
      expect(readFileSync(join(REPO_ROOT, 'scripts/boinc/templates/axiom_out'), 'utf8')).toContain(
        '<open_name>axiom_result.json</open_name>',
      );
      // What the client reads beside itself is copied into the slot, not linked.
      for (const name of ['axiom_client.py', 'axiom_sandbox.py', 'workunit.schema.json'])
        expect(files.find((f) => f.logical === name)?.copy, name).toBe(true);
      // The plan class reserves cores and puts their number on the command line.
      expect(report.planClassSpec).toMatch(/<name>mt<\/name>[\s\S]*<nthreads_cmdline\/>/);
    },
  );

  it('never changes an installed version and says what it needs', async () => {
    await assemble('x86_64-pc-linux-gnu');
    const again = await runCli(
      [
        'app',
        '--platform',
        'x86_64-pc-linux-gnu',
        '--version',
        '101',
        '--wrapper',
        wrapper,
        '--runtime',
        runtime,
        '--out',
        join(dir, 'apps'),
      ],
      { cwd: dir },
    );
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('an app version never changes once installed; give a new --version');
    const missing = await runCli(['app', '--version', '102'], { cwd: dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--version, --wrapper and --runtime are required');
    const wrong = await runCli(
      ['app', '--platform', 'windows_x86', '--version', '1', '--wrapper', wrapper, '--runtime', runtime],
      { cwd: dir },
    );
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('did you mean windows_x86_64?');
  });

  it("runs in a slot as BOINC's wrapper runs it: job.xml's command line, $NTHREADS, the copied client", async () => {
    await assemble('x86_64-pc-linux-gnu');
    const versionDir = join(dir, 'apps', 'axiom', '101', 'x86_64-pc-linux-gnu__mt');
    const files = versionFiles(readFileSync(join(versionDir, 'version.xml'), 'utf8'));
    // The slot as the BOINC client prepares it: copy_file files copied under their logical names.
    const slot = join(dir, 'slot');
    mkdirSync(slot);
    for (const f of files.filter((x) => x.copy))
      copyFileSync(join(versionDir, f.physical), join(slot, f.logical as string));
    const script = join(dir, 'probe.py');
    writeFileSync(
      script,
      'import json, os\njson.dump({"experiment": "probe", "version": "1", "status": "ok", "seed": 3, "params": {}, "budget_seconds": 20, "elapsed_seconds": 1, "metrics": {"cpus": int(os.environ["AXIOM_CPUS"])}, "series": {}, "summary": "s"}, open("experiment_result.json", "w"))\n',
    );
    const sha = createHash('sha256').update(readFileSync(script)).digest('hex');
    writeFileSync(
      join(slot, 'wu.json'),
      renderWorkunitInput(
        {
          mode: 'experiment',
          experiment: 'probe',
          wu_name: WorkunitName.format({ experiment: 'probe', scriptSha: sha, host: 1, replica: 0 }),
          script_url: pathToFileURL(script).href,
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
    // The wrapper (samples/wrapper/wrapper.cpp) resolves <application> and substitutes $NTHREADS with
    // the --nthreads the scheduler gave it (the mt plan class: 2 cores here).
    const job = readFileSync(
      join(versionDir, files.find((f) => f.logical === 'job.xml')?.physical as string),
      'utf8',
    );
    const application = /<application>([^<]+)<\/application>/.exec(job)?.[1];
    const program = join(versionDir, files.find((f) => f.logical === application)?.physical as string);
    const commandLine = (/<command_line>([^<]+)<\/command_line>/.exec(job)?.[1] ?? '').replace(
      '$NTHREADS',
      '2',
    );
    // File URLs only in this test: volunteers fetch scripts over https.
    const run = spawnSync(program, [...commandLine.split(' '), '--allow-file-urls'], {
      cwd: slot,
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(slot, 'axiom_result.json'), 'utf8'));
    expect(report).toMatchObject({ status: 'ok', cpus: 2, envelope: { metrics: { cpus: 2 } } });
    // The script worked in the sandbox's own directory: nothing of it is left in the slot.
    expect(readdirSync(join(slot, 'run'))).toEqual([]);
  });
});
