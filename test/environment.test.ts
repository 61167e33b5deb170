import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readEnvironment, VARIABLES } from '../src/env/environment.js';
import { InvalidInputError } from '../src/errors.js';
import { git, makeLab } from './helpers/git.js';
import { makeRepo, manifestYaml, OK_SCRIPT, REPO_ROOT, runCli } from './helpers/repo.js';

describe('the environment', () => {
  it('is read once and every wrong variable is listed, with what was expected', () => {
    let error: unknown;
    try {
      readEnvironment(
        {
          AXIOM_DB_URL: 'postgres://x@y/z',
          AXIOM_JUDGE_BATCH_FROM: 'twenty',
          AXIOM_FORGE: 'gitlab',
          ANTHROPIC_API_KEY: 'sk-ant-secret',
          ANTHROPIC_BASE_URL: 'not a url',
          AXIOM_SCRIPT_BASE_URL: 'ftp://example.org/',
        },
        '/',
      );
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    const problems = (error as InvalidInputError).problems.map((p) => `${p.path}: ${p.message}`);
    expect(problems).toEqual([
      'AXIOM_DB_URL: must start with mysql:// or sqlite:; found "postgres://x@y/z", expected e.g. mysql://boincadm:secret@127.0.0.1:3306/boinc',
      'AXIOM_SCRIPT_BASE_URL: must be a https or file URL; found "ftp://example.org/", expected e.g. https://boinc.example.org/axiom/',
      'ANTHROPIC_BASE_URL: must be a URL; found "not a url", expected e.g. https://api.anthropic.com',
      'AXIOM_JUDGE_BATCH_FROM: must be a positive whole number; found "twenty", expected e.g. 20',
      'AXIOM_FORGE: must be one of local, github; found "gitlab", expected e.g. github',
    ]);
    expect(JSON.stringify(problems)).not.toContain('sk-ant-secret');
  });

  it('gives defaults for what is unset and resolves paths against the working directory', () => {
    const env = readEnvironment(
      { AXIOM_SPOOL_DIR: 'spool', AXIOM_DB_URL: 'sqlite:lab/boinc.sqlite' },
      '/srv/lab',
    );
    expect(env).toMatchObject({
      spoolDir: '/srv/lab/spool',
      databaseUrl: 'sqlite:/srv/lab/lab/boinc.sqlite',
      boinc: { app: 'axiom' },
      claude: { judgeModel: 'claude-haiku-5-5', judgeBatchFrom: 20 },
      forge: { kind: 'local', remote: 'origin' },
    });
  });

  it('stops every command before it does anything, and says which variables to fix', async () => {
    const result = await runCli(['check'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, AXIOM_BATCH_POLL_MS: '-1' },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'axiom check: 1 environment variable is wrong; nothing was done\n  environment: AXIOM_BATCH_POLL_MS: must be a positive whole number; found "-1", expected e.g. 5000 [environment]\n',
    );
  });

  it('documents every variable it reads in README or docs/', () => {
    const docs = join(REPO_ROOT, 'docs');
    const readme = [
      join(REPO_ROOT, 'README.md'),
      ...(existsSync(docs)
        ? readdirSync(docs)
            .filter((f) => f.endsWith('.md'))
            .map((f) => join(docs, f))
        : []),
    ]
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const missing = Object.keys(VARIABLES).filter((name) => !readme.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});

describe('a broken axiom.yaml', () => {
  it('stops collect with every problem listed instead of running on defaults', async () => {
    const lab = makeLab({
      'manifests/mean_test.yaml': manifestYaml('mean_test'),
      'experiments/mean_test.py': OK_SCRIPT,
      'axiom.yaml': 'fleet: fleet.yaml\nlimits:\n  credit_per_host_day: many\n  unknown: 1\n',
    });
    const spool = join(lab.root, 'spool');
    mkdirSync(spool);
    const result = await runCli(['collect', '--json'], {
      cwd: lab.clone,
      env: { PATH: process.env.PATH, HOME: lab.root, AXIOM_SPOOL_DIR: spool },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('axiom collect: axiom.yaml has errors; nothing was done');
    expect(result.stderr).toContain(
      'axiom.yaml:3:24: limits.credit_per_host_day: must be a number, found the text "many" [schema]',
    );
    expect(result.stderr).toContain('unknown key "unknown"');
    expect(git(lab.origin, 'branch', '--list', 'axiom/results*')).toBe('');
  });

  it('is reported by check, which plans nothing from it', async () => {
    const root = makeRepo({
      'manifests/mean_test.yaml': manifestYaml('mean_test'),
      'experiments/mean_test.py': OK_SCRIPT,
    });
    writeFileSync(join(root, 'axiom.yaml'), 'fleet: 12\n');
    const result = await runCli(['check', '--json'], { cwd: root });
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.plans).toEqual([]);
    expect(report.problems.map((p: { file: string }) => p.file)).toContain('axiom.yaml');
  });
});
