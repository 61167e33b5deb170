import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { git, makeLab } from './helpers/git.js';
import { manifestYaml, OK_SCRIPT, REPO_ROOT, runCli } from './helpers/repo.js';

// Under GitHub Actions, deploy, credit apply and collect act only for the default branch at its tip.

function actionsLab() {
  const lab = makeLab({
    'manifests/mean_test.yaml': manifestYaml('mean_test'),
    'experiments/mean_test.py': OK_SCRIPT,
    'axiom.yaml': readFileSync(join(REPO_ROOT, 'axiom.yaml'), 'utf8'),
    'fleet.yaml': readFileSync(join(REPO_ROOT, 'fleet.yaml'), 'utf8'),
  });
  const event = join(lab.root, 'event.json');
  writeFileSync(
    event,
    JSON.stringify({ repository: { default_branch: 'main', full_name: 'axiom-lab/research' } }),
  );
  const publish = join(lab.root, 'publish');
  mkdirSync(publish);
  const head = git(lab.clone, 'rev-parse', 'HEAD');
  const env = (extra: Record<string, string> = {}) => ({
    PATH: process.env.PATH,
    HOME: lab.root,
    GITHUB_ACTIONS: 'true',
    GITHUB_REF: 'refs/heads/main',
    GITHUB_SHA: head,
    GITHUB_EVENT_NAME: 'push',
    GITHUB_EVENT_PATH: event,
    AXIOM_DB_URL: `sqlite:${join(lab.root, 'boinc.sqlite')}`,
    AXIOM_PUBLISH_DIR: publish,
    AXIOM_SCRIPT_BASE_URL: 'https://boinc.example.org/axiom/experiments/',
    AXIOM_BOINC_PROJECT_DIR: join(lab.root, 'project'),
    AXIOM_SPOOL_DIR: join(lab.root, 'spool'),
    AXIOM_FORGE: 'local',
    ...extra,
  });
  return { lab, env, publish, head };
}

describe('commands that act on BOINC, under GitHub Actions', () => {
  it('refuse a manual run on another branch, and change nothing', async () => {
    const { lab, env, publish } = actionsLab();
    git(lab.clone, 'checkout', '--quiet', '-b', 'feature');
    const sha = git(lab.clone, 'rev-parse', 'HEAD');
    const run = await runCli(['deploy'], {
      cwd: lab.clone,
      env: env({ GITHUB_REF: 'refs/heads/feature', GITHUB_SHA: sha, GITHUB_EVENT_NAME: 'workflow_dispatch' }),
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'axiom deploy acts only for the default branch at its tip, so that merging stays the approval: this run is on refs/heads/feature, not refs/heads/main; nothing was done',
    );
    expect(readdirSync(publish)).toEqual([]);
    expect(existsSync(join(lab.root, 'boinc.sqlite'))).toBe(false);
    // A dry run shows what would happen from anywhere.
    const dry = await runCli(['deploy', '--dry-run'], {
      cwd: lab.clone,
      env: env({ GITHUB_REF: 'refs/heads/feature', GITHUB_SHA: sha }),
    });
    expect(dry.stderr).not.toContain('acts only for the default branch');
  });

  it("refuse a pull request's code, and a run main has moved past", async () => {
    const { lab, env, head } = actionsLab();
    const fromPr = await runCli(['credit', 'apply'], {
      cwd: lab.clone,
      env: env({ GITHUB_EVENT_NAME: 'pull_request' }),
    });
    expect(fromPr.code).toBe(1);
    expect(fromPr.stderr).toContain('this run was started by a pull_request event');
    // Someone merges again while this run waited.
    writeFileSync(join(lab.clone, 'README.md'), 'newer\n');
    git(lab.clone, 'add', 'README.md');
    git(lab.clone, 'commit', '--quiet', '-m', 'newer');
    git(lab.clone, 'push', '--quiet', 'origin', 'main');
    git(lab.clone, 'checkout', '--quiet', head);
    const stale = await runCli(['credit', 'apply'], { cwd: lab.clone, env: env() });
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(
      /main has moved on to [0-9a-f]{12} since [0-9a-f]{12}; the run for that commit does this work/,
    );
  });

  it('collect fails without its database under Actions instead of skipping its checks, and runs with it', async () => {
    const { lab, env } = actionsLab();
    const without = await runCli(['collect'], { cwd: lab.clone, env: env({ AXIOM_DB_URL: '' }) });
    expect(without.code).toBe(1);
    expect(without.stderr).toContain('axiom collect under GitHub Actions needs AXIOM_DB_URL');
    const sqlite = join(lab.root, 'boinc.sqlite');
    const created = await runCli(['fleet', 'export', '--help'], { cwd: lab.clone, env: env() });
    expect(created.code).toBe(0);
    const ok = await runCli(['collect', '--json'], {
      cwd: lab.clone,
      env: env({ AXIOM_DB_URL: `sqlite:${sqlite}` }),
    });
    expect(ok.stderr).not.toContain('acts only for the default branch');
  });
});
