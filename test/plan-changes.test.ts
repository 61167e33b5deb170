import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteBoincStore } from '../src/boinc/sqlite.js';
import { parseCheckReport, renderMarkdown } from '../src/check/report.js';
import { insertFinishedResults } from './helpers/credit.js';
import { git, makeLab } from './helpers/git.js';
import { manifestYaml, OK_SCRIPT, REPO_ROOT, runCli } from './helpers/repo.js';

const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH, ...extra });

/** A lab whose main has two experiments, and a branch that changes one script and adds a third. */
function labWithBranch() {
  const lab = makeLab({
    'fleet.yaml': readFileSync(join(REPO_ROOT, 'fleet.yaml'), 'utf8'),
    'axiom.yaml': readFileSync(join(REPO_ROOT, 'axiom.yaml'), 'utf8'),
    'manifests/mean_test.yaml': manifestYaml('mean_test'),
    'experiments/mean_test.py': OK_SCRIPT,
    'manifests/mean_two.yaml': manifestYaml('mean_two'),
    'experiments/mean_two.py': OK_SCRIPT.replace('import json', 'import json  # two'),
  });
  git(lab.clone, 'checkout', '--quiet', '-b', 'axiom/propose/changes');
  writeFileSync(join(lab.clone, 'experiments/mean_test.py'), `${OK_SCRIPT}# a changed script\n`);
  writeFileSync(join(lab.clone, 'manifests/mean_three.yaml'), manifestYaml('mean_three'));
  writeFileSync(
    join(lab.clone, 'experiments/mean_three.py'),
    OK_SCRIPT.replace('import json', 'import json  # 3'),
  );
  git(lab.clone, 'add', '.');
  git(lab.clone, 'commit', '--quiet', '-m', 'Change mean_test, add mean_three');
  return lab;
}

describe('axiom check --base', () => {
  it('shows only what the branch changes, each workunit new, unchanged or already deployed', async () => {
    const lab = labWithBranch();
    const plain = await runCli(['check', '--json', '--base', 'main'], { cwd: lab.clone, env: env() });
    expect(plain.code, plain.stderr).toBe(0);
    const changes = JSON.parse(plain.stdout).changes;
    expect(changes.base).toBe('main');
    expect(changes.unchanged).toBe(1);
    expect(changes.checkedDeployed).toBe(false);
    const [test, three] = changes.experiments;
    expect(test.experiment).toBe('mean_test');
    expect(test.change).toBe('changed');
    expect(test.workunits.map((w: { state: string }) => w.state)).toEqual(['new', 'new', 'new']);
    // The old script's workunits are no longer planned (those created keep running).
    expect(test.dropped).toHaveLength(3);
    expect(test.dropped.some((d: string) => test.workunits.some((w: { name: string }) => w.name === d))).toBe(
      false,
    );
    expect(three.change).toBe('added');

    // With the BOINC database, a workunit BOINC has already is said to be deployed.
    const dbFile = join(lab.root, 'boinc.sqlite');
    const store = new SqliteBoincStore(dbFile);
    try {
      await insertFinishedResults(store, [{ workunit: three.workunits[0].name, host: 60, user: 1 }]);
    } finally {
      await store.close();
    }
    const summary = join(lab.root, 'plan.md');
    const report = join(lab.root, 'plan.json');
    const withDb = await runCli(['check', '--base', 'main', '--summary', summary, '--report', report], {
      cwd: lab.clone,
      env: env({ AXIOM_DB_URL: `sqlite:${dbFile}` }),
    });
    expect(withDb.code, withDb.stderr).toBe(0);
    expect(withDb.stdout).toContain('Changes against main');
    expect(withDb.stdout).toContain('mean_three (added): 2 new, 0 unchanged, 1 already deployed');
    const markdown = readFileSync(summary, 'utf8');
    expect(markdown).toContain('### What this pull request changes (against `main`)');
    expect(markdown).toContain(
      '**mean_test** (changed): 3 new, 0 unchanged, 0 already deployed, 3 no longer planned',
    );
    expect(markdown).toContain(`| \`${three.workunits[0].name}\` | 60 | 7 | already deployed |`);
    expect(markdown).toContain('1 other experiment unchanged.');
    // Only the changed experiments' plans, not the whole lab's.
    expect(markdown).toContain('### Plan of the changed experiments');
    expect(markdown).not.toMatch(/^\| mean_two \|/m);
    // The comment job renders the same from the report, read as data.
    expect(renderMarkdown(parseCheckReport(readFileSync(report, 'utf8'), 'plan.json'))).toContain(
      '**mean_three** (added): 2 new, 0 unchanged, 1 already deployed',
    );
  });

  it('marks the workunits a branch leaves alone as unchanged, and refuses a base it cannot find', async () => {
    const lab = labWithBranch();
    writeFileSync(
      join(lab.clone, 'manifests/mean_two.yaml'),
      manifestYaml('mean_two').replace('replicas: 2', 'replicas: 3'),
    );
    git(lab.clone, 'commit', '--quiet', '-am', 'One more replica of mean_two');
    const result = await runCli(['check', '--json', '--base', 'main'], { cwd: lab.clone, env: env() });
    const two = JSON.parse(result.stdout).changes.experiments.find(
      (e: { experiment: string }) => e.experiment === 'mean_two',
    );
    expect(two.workunits.map((w: { state: string }) => w.state)).toEqual([
      'unchanged',
      'unchanged',
      'new',
      'unchanged',
    ]);
    const missing = await runCli(['check', '--base', 'origin/nowhere'], { cwd: lab.clone, env: env() });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('--base origin/nowhere: no such commit');
    const bad = await runCli(['check', '--base', '--upload-pack=x'], { cwd: lab.clone, env: env() });
    expect(bad.code).toBe(2);
    const forged = JSON.parse(result.stdout);
    forged.changes.experiments[0].workunits[0].state = 'approved';
    expect(() => parseCheckReport(JSON.stringify(forged), 'plan.json')).toThrow('is not a check report');
  });
});
