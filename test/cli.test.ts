import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../src/cli/main.js';
import { FIXTURES, makeRepo, manifestYaml, OK_SCRIPT, REPO_ROOT, runCli, writeFile } from './helpers/repo.js';

const sha12 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 12);

describe('axiom (top level)', () => {
  it('prints help listing every command', async () => {
    const result = await runCli(['--help'], { cwd: REPO_ROOT });
    expect(result.code).toBe(0);
    for (const name of COMMANDS.keys()) expect(result.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
  });

  it('exits 2 with usage when run without a command', async () => {
    const result = await runCli([], { cwd: REPO_ROOT });
    expect(result.code).toBe(2);
    expect(result.stdout).toContain('Usage: axiom <command>');
  });

  it('rejects an unknown command with exit 2', async () => {
    const result = await runCli(['deploi'], { cwd: REPO_ROOT });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `axiom: unknown command "deploi"; did you mean "deploy"? Commands: ${[...COMMANDS.keys()].join(', ')}\nRun \`axiom --help\` for usage.\n`,
    );
  });

  it('prints the version from package.json', async () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect((await runCli(['--version'], { cwd: REPO_ROOT })).stdout).toBe(`${pkg.version}\n`);
  });

  it.each([...COMMANDS.keys()])('%s has --help and rejects unknown flags', async (name) => {
    const help = await runCli([name, '--help'], { cwd: REPO_ROOT });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(new RegExp(`^Usage: axiom ${name} `));
    expect(help.stdout).toContain('-h, --help');
    expect((await runCli(['help', name], { cwd: REPO_ROOT })).stdout).toBe(help.stdout);
    const unknown = await runCli([name, '--no-such-flag'], { cwd: REPO_ROOT });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(
      `axiom ${name}: unknown option --no-such-flag\nRun \`axiom ${name} --help\` for usage.\n`,
    );
  });

  it('suggests the option that was meant, and words missing or negative values plainly', async () => {
    const typo = await runCli(['collect', '--dry-rnu'], { cwd: REPO_ROOT });
    expect(typo.stderr).toContain('axiom collect: unknown option --dry-rnu; did you mean --dry-run?');
    const missing = await runCli(['demo', '--budget'], { cwd: REPO_ROOT });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('axiom demo: --budget needs a value');
    const negative = await runCli(['demo', '--budget', '-5'], { cwd: REPO_ROOT });
    expect(negative.code).toBe(2);
    expect(negative.stderr).toContain(
      'axiom demo: --budget needs a value; a value that starts with "-" is written --budget=-5',
    );
  });
});

describe('commands run outside a lab', () => {
  it.each(['check', 'site', 'plots', 'collect --dry-run', 'deploy --dry-run', 'credit status', 'migrate'])(
    '%s says it is not in a lab, and writes nothing',
    async (line) => {
      const dir = mkdtempSync(join(tmpdir(), 'axiom-not-a-lab-'));
      const result = await runCli(line.split(' '), { cwd: dir, env: { PATH: process.env.PATH } });
      expect(result.code).toBe(1);
      const name = line.split(' ')[0];
      expect(result.stderr).toBe(
        `axiom ${name}: ${realpathSync(dir)} (nor any directory above it) is not an Axiom lab: it has no axiom.yaml, manifests, fleet.yaml. Run axiom ${name} in a clone of a lab repository or pass --root DIR; \`axiom demo\` makes a lab to try.\n`.replace(
          realpathSync(dir),
          dir,
        ),
      );
      expect(readdirSync(dir)).toEqual([]);
    },
  );

  it('find the lab above the directory they run in, as git does', async () => {
    const root = makeRepo({
      'manifests/mean_test.yaml': manifestYaml('mean_test'),
      'experiments/mean_test.py': OK_SCRIPT,
    });
    const result = await runCli(['check', '--json'], { cwd: join(root, 'experiments') });
    expect(result.code, result.stderr).toBe(0);
    expect((JSON.parse(result.stdout) as { summary: { manifests: number } }).summary.manifests).toBe(1);
    const wrongRoot = await runCli(['check', '--root', 'experiments'], { cwd: root });
    expect(wrongRoot.stderr).toContain(`${join(root, 'experiments')} is not an Axiom lab`);
  });
});

describe('axiom check', () => {
  it('passes on this repository and plans the first batch', async () => {
    const result = await runCli(['check', '--json'], { cwd: REPO_ROOT });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.ok).toBe(true);
    const plan = report.plans.find((p: { experiment: string }) => p.experiment === 'double_descent');
    const sha = sha12(join(REPO_ROOT, 'experiments', 'double_descent.py'));
    expect(
      plan.workunits.map((w: { name: string; seed: number; cpus: number; memoryGb: number }) => [
        w.name,
        w.seed,
        w.cpus,
        w.memoryGb,
      ]),
    ).toEqual([
      // Every core of both hosts, with the memory the manifest's model gives them (0.2 + 0.14 per core).
      [`axm_double_descent_${sha}_h194_r0`, 1, 128, 18.12],
      [`axm_double_descent_${sha}_h296_r0`, 1, 240, 33.8],
    ]);
    expect(plan.cpuHours).toBeCloseTo(((128 + 240) * 600) / 3600, 6);
    // Same-seed replicas on two hosts get the same work, sized for the slower of them.
    expect(plan.work).toMatchObject([{ param: 'seeds', seed: 1, hosts: [194, 296] }]);
    const seeds = plan.workunits.map((w: { params: { seeds: number } }) => w.params.seeds);
    expect(seeds[0]).toBe(seeds[1]);
  });

  it('prints a readable plan and summary', async () => {
    const root = makeRepo({
      'manifests/mean_of_normals.yaml': manifestYaml('mean_of_normals'),
      'experiments/mean_of_normals.py': OK_SCRIPT,
    });
    const sha = sha12(join(root, 'experiments', 'mean_of_normals.py'));
    const result = await runCli(['check'], { cwd: root });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        'Plan',
        `  mean_of_normals  (experiments/mean_of_normals.py @ ${sha}, 120 s per workunit)`,
        `    + axm_mean_of_normals_${sha}_h60_r0  host 60  seed group 7  8 cpus  1 GB`,
        `    + axm_mean_of_normals_${sha}_h60_r1  host 60  seed group 8  8 cpus  1 GB`,
        `    + axm_mean_of_normals_${sha}_h267_r0  host 267  seed group 7  4 cpus  1 GB`,
        '    3 workunits on 2 hosts, 0.7 CPU-hours, credit cap 30; deploy draws a fresh seed for each seed group',
        '',
        'OK: checked 1 manifest and 1 script. Plan: 3 workunits on 2 hosts, 0.7 CPU-hours, credit cap 30 in total.',
        '',
      ].join('\n'),
    );
  });

  it('exits 1 and writes GitHub annotations and a job summary on errors', async () => {
    const root = makeRepo({
      'manifests/mean_of_normals.yaml': manifestYaml('mean_of_normals').replace('- host: 267', '- host: 999'),
      'experiments/mean_of_normals.py': OK_SCRIPT,
      'experiments/sneaky.py': readFileSync(join(FIXTURES, 'hostile', 'network_socket.py'), 'utf8'),
    });
    const summary = join(root, 'summary.md');
    const result = await runCli(['check', '--format', 'github'], {
      cwd: root,
      env: { PATH: process.env.PATH, GITHUB_STEP_SUMMARY: summary },
    });
    expect(result.code).toBe(1);
    const annotations = result.stdout.split('\n').filter((line) => line.startsWith('::'));
    expect(annotations).toEqual([
      '::warning file=experiments/sneaky.py,title=script-without-manifest::no manifest names this script; it will not be deployed',
      "::error file=experiments/sneaky.py,line=2,col=1,title=policy/network::'socket' is not allowed (no network access)",
      "::error file=experiments/sneaky.py,line=3,col=5,title=policy/network::'socket.create_connection' is not allowed (no network access)",
      '::error file=manifests/mean_of_normals.yaml,line=14,col=11,title=target-host-exists::targets[1].host: host 999 is not in the fleet (fleet.yaml); known hosts: 60, 80, 141, 194, 209, 249, 267, 287, 296, 321',
    ]);
    const markdown = readFileSync(summary, 'utf8');
    expect(markdown).toContain('## axiom check');
    expect(markdown).toContain('| `manifests/mean_of_normals.yaml:14` | target-host-exists |');
  });

  it('checks a bare script against the policy only', async () => {
    const root = makeRepo({
      'experiments/sneaky.py': readFileSync(join(FIXTURES, 'hostile', 'os_system.py'), 'utf8'),
    });
    const result = await runCli(['check', 'experiments/sneaky.py'], { cwd: root });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      "experiments/sneaky.py:3:1: 'os.system' is not allowed (no starting other programs) [policy/process-spawn]",
    );
    expect(result.stdout).toContain('1 error: checked 0 manifests and 1 script.');
  });

  it('checks only the given manifest but still sees every name in the repository', async () => {
    const root = makeRepo({
      'manifests/mean_of_normals.yaml': manifestYaml('mean_of_normals'),
      'manifests/copy_of_mean.yaml': manifestYaml('mean_of_normals'),
      'experiments/mean_of_normals.py': OK_SCRIPT,
    });
    const result = await runCli(['check', '--json', 'manifests/mean_of_normals.yaml'], { cwd: root });
    const report = JSON.parse(result.stdout);
    expect(report.summary.manifests).toBe(1);
    expect(report.problems.map((p: { rule: string; message: string }) => `${p.rule}: ${p.message}`)).toEqual([
      'unique-name: name "mean_of_normals" is also used by manifests/copy_of_mean.yaml',
    ]);
  });

  it.each([
    [['check', 'nowhere.yaml'], 'axiom check: nowhere.yaml: no such file or directory'],
    [['check', '/etc/hostname'], 'is outside the repository'],
    [
      ['check', 'fleet.yaml', '--format', 'yaml'],
      'axiom check: --format must be one of text, json, github; found "yaml"',
    ],
    [['check', 'axiom.yaml.txt'], 'no such file'],
  ])('exits 2 on usage errors: %j', async (argv, message) => {
    const root = makeRepo();
    const result = await runCli(argv, { cwd: root });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('reports an invalid fleet snapshot with its location', async () => {
    const root = makeRepo({
      'manifests/mean_of_normals.yaml': manifestYaml('mean_of_normals'),
      'experiments/mean_of_normals.py': OK_SCRIPT,
      'other-fleet.yaml':
        'source: test\nexported_at: 2026-11-25T00:00:00Z\nhosts:\n  - { id: 60, cores: eight, memory_gb: 16, os: linux }\n  - { id: 60, cores: 8, memory_gb: 16, os: linux }\n',
    });
    const result = await runCli(['check', '--fleet', 'other-fleet.yaml'], { cwd: root });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      'other-fleet.yaml:4:22: hosts[0].cores: must be an integer, found the text "eight" [schema]',
    );
    expect(result.stdout).toContain('Plan: 0 workunits');
  });

  it('reports a broken axiom.yaml', async () => {
    const root = makeRepo();
    writeFile(root, 'axiom.yaml', 'limits:\n  run_duration: { min: 30, maximum: 600 }\n');
    const result = await runCli(['check'], { cwd: root });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      'axiom.yaml:2:28: limits.run_duration.maximum: unknown key "maximum"; allowed keys: min, max [schema]',
    );
  });

  it('uses the limits configured in axiom.yaml', async () => {
    const root = makeRepo({
      'manifests/mean_of_normals.yaml': manifestYaml('mean_of_normals'),
      'experiments/mean_of_normals.py': OK_SCRIPT,
    });
    writeFile(
      root,
      'axiom.yaml',
      'fleet: fleet.yaml\nlimits:\n  run_duration: { max: 60 }\n  workunits_per_manifest: 2\n',
    );
    const result = await runCli(['check', '--json'], { cwd: root });
    expect(JSON.parse(result.stdout).problems.map((p: { rule: string }) => p.rule)).toEqual([
      'run-duration-bounds',
      'workunit-limit',
    ]);
  });

  it('runs as an installed binary', () => {
    const out = execFileSync(process.execPath, [join(REPO_ROOT, 'bin', 'axiom.js'), 'check', '--json'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    expect(JSON.parse(out).ok).toBe(true);
    const failed = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'axiom.js'), 'check', '--bogus'], {
      encoding: 'utf8',
    });
    expect(failed.status).toBe(2);
  });
});
