import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Proposal } from '../src/forge/forge.js';
import { DEFAULT_IDENTITY } from '../src/forge/git.js';
import { LocalForge } from '../src/forge/local.js';
import { git, type Lab, makeLab, PERSON, showFile } from './helpers/git.js';
import { runCli } from './helpers/repo.js';

function forgeFor(lab: Lab): LocalForge {
  return new LocalForge({ repoDir: lab.clone, remote: 'origin', identity: DEFAULT_IDENTITY });
}

function proposal(overrides: Partial<Proposal> = {}): Proposal {
  return {
    branch: 'axiom/propose/mean_test',
    base: 'main',
    title: 'Propose mean_test',
    body: '## Hypothesis\n\nThe mean is close to zero.\n',
    labels: ['axiom:proposal'],
    commitMessage: 'Propose experiment mean_test',
    files: [
      { path: 'experiments/mean_test.py', content: 'print(1)\n' },
      { path: 'manifests/mean_test.yaml', content: 'name: mean_test\n' },
    ],
    ...overrides,
  };
}

const env = (lab: Lab) => ({ PATH: process.env.PATH, HOME: lab.root });

describe('local forge', () => {
  it('opens a pull request as a branch whose commit message carries the body, without touching the checkout', async () => {
    const lab = makeLab();
    const before = git(lab.clone, 'rev-parse', 'HEAD');
    const outcome = await forgeFor(lab).openOrUpdate(proposal());
    expect(outcome.action).toBe('created');
    expect(outcome.pullRequest).toMatchObject({
      ref: 'axiom/propose/mean_test',
      state: 'open',
      labels: ['axiom:proposal'],
    });
    expect(showFile(lab.origin, 'axiom/propose/mean_test', 'experiments/mean_test.py')).toBe('print(1)');
    expect(showFile(lab.origin, 'axiom/propose/mean_test', 'README.md')).toBe('# lab');
    const message = git(lab.origin, 'log', '-1', '--format=%B', 'axiom/propose/mean_test');
    expect(message).toContain('Propose experiment mean_test');
    expect(message).toContain('The mean is close to zero.');
    expect(git(lab.origin, 'log', '-1', '--format=%an <%ae>', 'axiom/propose/mean_test')).toBe(
      `${DEFAULT_IDENTITY.name} <${DEFAULT_IDENTITY.email}>`,
    );
    // The user's checkout, index and branch are untouched.
    expect(git(lab.clone, 'rev-parse', 'HEAD')).toBe(before);
    expect(git(lab.clone, 'status', '--porcelain')).toBe('');
  });

  it('updates the open pull request on a second run and changes nothing on an identical one', async () => {
    const lab = makeLab();
    const forge = forgeFor(lab);
    const first = await forge.openOrUpdate(proposal());
    const same = await forge.openOrUpdate(proposal());
    expect(same.action).toBe('unchanged');
    expect(same.commit).toBeUndefined();
    expect(git(lab.origin, 'rev-parse', 'axiom/propose/mean_test')).toBe(first.commit);

    const changed = await forge.openOrUpdate(
      proposal({
        body: 'A better description.\n',
        files: [{ path: 'experiments/mean_test.py', content: 'print(2)\n' }],
        labels: ['axiom:proposal', 'axiom:catalogue'],
      }),
    );
    expect(changed.action).toBe('updated');
    // The update continues the branch: the first commit is its parent.
    expect(git(lab.origin, 'rev-parse', 'axiom/propose/mean_test^')).toBe(first.commit);
    expect(showFile(lab.origin, 'axiom/propose/mean_test', 'experiments/mean_test.py')).toBe('print(2)');
    expect(showFile(lab.origin, 'axiom/propose/mean_test', 'manifests/mean_test.yaml')).toBe(
      'name: mean_test',
    );
    expect(changed.pullRequest.labels).toEqual(['axiom:proposal', 'axiom:catalogue']);
    expect((await forge.get('axiom/propose/mean_test')).body).toBe('A better description.\n');
    expect((await forge.list()).map((p) => p.branch)).toEqual(['axiom/propose/mean_test']);
  });

  it('keeps one comment per purpose and edits it in place; labels are added and removed', async () => {
    const lab = makeLab();
    const forge = forgeFor(lab);
    const { pullRequest } = await forge.openOrUpdate(proposal());
    expect(await forge.upsertComment(pullRequest, 'plan', 'plan v1')).toBe('created');
    expect(await forge.upsertComment(pullRequest, 'plan', 'plan v1')).toBe('unchanged');
    expect(await forge.upsertComment(pullRequest, 'plan', 'plan v2')).toBe('updated');
    expect(await forge.upsertComment(pullRequest, 'smoke-run', 'ok')).toBe('created');
    const comments = await forge.comments(pullRequest);
    expect(comments.map((c) => [c.purpose, c.body])).toEqual([
      ['plan', 'plan v2'],
      ['smoke-run', 'ok'],
    ]);
    expect(
      await forge.setLabels(pullRequest, { add: ['axiom:deployed'], remove: ['axiom:proposal'] }),
    ).toEqual(['axiom:deployed']);
    // A later update keeps the comments.
    await forge.openOrUpdate(proposal({ labels: [] }));
    expect((await forge.comments(pullRequest)).length).toBe(2);
  });

  it('runs the whole cycle through the CLI: list, show, merge with the approval recorded, then nothing open', async () => {
    const lab = makeLab();
    await forgeFor(lab).openOrUpdate(proposal());

    const listed = await runCli(['pr', 'list', '--json'], { cwd: lab.clone, env: env(lab) });
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).map((p: { branch: string }) => p.branch)).toEqual([
      'axiom/propose/mean_test',
    ]);

    const shown = await runCli(['pr', 'show', 'axiom/propose/mean_test'], { cwd: lab.clone, env: env(lab) });
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('Propose mean_test');
    expect(shown.stdout).toContain('The mean is close to zero.');

    const dry = await runCli(['pr', 'merge', 'axiom/propose/mean_test', '--dry-run'], {
      cwd: lab.clone,
      env: env(lab),
    });
    expect(dry.code).toBe(0);
    expect(showFile(lab.origin, 'main', 'experiments/mean_test.py')).toBeUndefined();

    const merged = await runCli(['pr', 'merge', 'axiom/propose/mean_test', '--json'], {
      cwd: lab.clone,
      env: env(lab),
    });
    expect(merged.stderr).toBe('');
    expect(merged.code).toBe(0);
    const report = JSON.parse(merged.stdout);
    expect(report.approvedBy).toEqual(PERSON);
    // A real merge commit on main with both parents, and the approval in its message.
    const parents = git(lab.origin, 'rev-list', '--parents', '-n', '1', 'main').split(' ');
    expect(parents).toHaveLength(3);
    expect(parents[2]).toBe(git(lab.origin, 'rev-parse', 'axiom/propose/mean_test'));
    const message = git(lab.origin, 'log', '-1', '--format=%B', 'main');
    expect(message).toContain(`Approved-by: ${PERSON.name} <${PERSON.email}>`);
    expect(message).toMatch(/Approved-at: \d{4}-\d\d-\d\dT/);
    expect(git(lab.origin, 'log', '-1', '--format=%an', 'main')).toBe(PERSON.name);
    // The checkout was on a clean main, so it now has the files.
    expect(readFileSync(join(lab.clone, 'experiments/mean_test.py'), 'utf8')).toBe('print(1)\n');

    const info = await forgeFor(lab).mergeInfo(report.commit);
    expect(info.files.sort()).toEqual(['experiments/mean_test.py', 'manifests/mean_test.yaml']);
    expect(info.pullRequest?.branch).toBe('axiom/propose/mean_test');

    const after = await runCli(['pr', 'list'], { cwd: lab.clone, env: env(lab) });
    expect(after.stdout).toBe('no open pull requests\n');
    const again = await runCli(['pr', 'merge', 'axiom/propose/mean_test'], { cwd: lab.clone, env: env(lab) });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already merged');

    // Proposing on the same branch after the merge starts a new pull request from main.
    const next = await forgeFor(lab).openOrUpdate(
      proposal({ files: [{ path: 'experiments/mean_test.py', content: 'print(3)\n' }] }),
    );
    expect(next.action).toBe('created');
    expect(git(lab.origin, 'rev-parse', 'axiom/propose/mean_test^')).toBe(
      git(lab.origin, 'rev-parse', 'main'),
    );
  });

  it('refuses a merge that conflicts and leaves main where it was', async () => {
    const lab = makeLab({ 'notes.txt': 'one\n' });
    await forgeFor(lab).openOrUpdate(proposal({ files: [{ path: 'notes.txt', content: 'two\n' }] }));
    writeFileSync(join(lab.clone, 'notes.txt'), 'three\n');
    git(lab.clone, 'commit', '--quiet', '-am', 'Edit notes');
    git(lab.clone, 'push', '--quiet', 'origin', 'main');
    const main = git(lab.origin, 'rev-parse', 'main');
    const result = await runCli(
      ['pr', 'merge', 'axiom/propose/mean_test', '--approver', 'Ada <ada@example.org>'],
      {
        cwd: lab.clone,
        env: env(lab),
      },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('does not merge cleanly into main');
    expect(git(lab.origin, 'rev-parse', 'main')).toBe(main);
  });

  it('shows the files a pull request changes and its diff, open or merged, named by a short name', async () => {
    const lab = makeLab();
    const forge = forgeFor(lab);
    await forge.openOrUpdate(proposal());
    await forge.openOrUpdate(
      proposal({
        branch: 'axiom/propose/mean_test_two',
        title: 'Propose mean_test_two',
        files: [{ path: 'README.md', content: null }],
      }),
    );
    const shown = await runCli(['pr', 'show', 'mean_test'], { cwd: lab.clone, env: env(lab) });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('axiom/propose/mean_test into main (open)');
    expect(shown.stdout).toContain(
      '--- 2 files changed (--diff shows them) ---\n  added    experiments/mean_test.py\n  added    manifests/mean_test.yaml\n',
    );
    expect(shown.stdout).not.toContain('+print(1)');
    const other = await runCli(['pr', 'show', 'two', '--json'], { cwd: lab.clone, env: env(lab) });
    expect(JSON.parse(other.stdout).files).toEqual([{ status: 'D', path: 'README.md' }]);
    const ambiguous = await runCli(['pr', 'show', 'mean'], { cwd: lab.clone, env: env(lab) });
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(/"mean" names 2 pull requests: .*; give more of the branch/);
    for (const branch of ['axiom/propose/mean_test (open)', 'axiom/propose/mean_test_two (open)'])
      expect(ambiguous.stderr).toContain(branch);
    const merged = await runCli(['pr', 'merge', 'mean_test'], { cwd: lab.clone, env: env(lab) });
    expect(merged.code, merged.stderr).toBe(0);
    const after = await runCli(['pr', 'show', 'mean_test', '--diff'], { cwd: lab.clone, env: env(lab) });
    expect(after.stdout).toContain('axiom/propose/mean_test into main (merged)');
    expect(after.stdout).toContain('--- 2 files changed ---');
    expect(after.stdout).toContain('+++ b/experiments/mean_test.py\n@@ -0,0 +1 @@\n+print(1)');
  });

  it('reports bad input clearly', async () => {
    const lab = makeLab();
    const cases: [string[], number, string][] = [
      [['pr'], 2, 'expected a subcommand'],
      [['pr', 'show'], 2, 'expected one pull request'],
      [['pr', 'show', 'feature/x'], 2, 'must be axiom/ followed by'],
      [['pr', 'show', 'axiom/none'], 1, 'no pull request on branch axiom/none'],
      [['pr', 'merge', 'axiom/none', '--approver', 'nobody'], 2, 'expected Name <email@example.org>'],
      [
        ['pr', 'comment', 'axiom/none'],
        2,
        '--purpose, and one of --body-file or --check-report, are required',
      ],
    ];
    for (const [argv, code, message] of cases) {
      const result = await runCli(argv, { cwd: lab.clone, env: env(lab) });
      expect({ argv, code: result.code }).toEqual({ argv, code });
      expect(result.stderr).toContain(message);
    }
    await expect(
      forgeFor(lab).openOrUpdate(proposal({ files: [{ path: '../escape', content: 'x' }] })),
    ).rejects.toThrow('must be a plain relative path');
    await expect(
      forgeFor(lab).openOrUpdate(proposal({ files: [{ path: 'README.md', content: '# lab\n' }] })),
    ).rejects.toThrow('main already has exactly these files');
  });

  it('writes exactly the bytes and names given, whatever they hold, and no name or text can add a command', async () => {
    const lab = makeLab();
    const svg = Buffer.from([0x3c, 0x73, 0x76, 0x67, 0x00, 0xff, 0x0d, 0x0a, 0x3e]);
    const names = ['a b/"quoted" name.md', 'line\nbreak.md', 'tab\there.md', 'ünïcode.md'];
    const outcome = await forgeFor(lab).openOrUpdate(
      proposal({
        commitMessage: '--amend\ndata 3\nM 100644 inline evil.md',
        files: [
          ...names.map((path) => ({ path, content: `${path}\r\n` })),
          { path: 'plots/x.svg', content: svg },
          { path: 'README.md', content: null },
        ],
      }),
    );
    const tree = git(lab.origin, 'ls-tree', '-r', '-z', '--name-only', outcome.commit as string)
      .split('\0')
      .filter(Boolean);
    expect(tree.sort()).toEqual([...names, 'plots/x.svg'].sort());
    const blob = (path: string) =>
      execFileSync('git', ['cat-file', 'blob', `${outcome.commit}:${path}`], { cwd: lab.origin });
    for (const path of names) expect(blob(path).toString()).toBe(`${path}\r\n`);
    expect(blob('plots/x.svg').equals(svg)).toBe(true);
    expect(git(lab.origin, 'log', '-1', '--format=%B', outcome.commit as string)).toContain(
      '--amend\ndata 3\nM 100644 inline evil.md',
    );
    // The commit is made without leaving a ref behind.
    expect(git(lab.origin, 'for-each-ref', '--format=%(refname)', 'refs/axiom')).toBe('');
    const forged = new LocalForge({
      repoDir: lab.clone,
      remote: 'origin',
      identity: { name: 'Eve\ncommitter Mallory', email: 'eve@example.org' },
    });
    await expect(forged.openOrUpdate(proposal({ branch: 'axiom/propose/other' }))).rejects.toThrow(
      'has a character git cannot record',
    );
  });

  it('posts a comment from a file through the CLI', async () => {
    const lab = makeLab();
    await forgeFor(lab).openOrUpdate(proposal());
    writeFileSync(join(lab.root, 'plan.md'), '| workunits | 3 |\n');
    const args = [
      'pr',
      'comment',
      'axiom/propose/mean_test',
      '--purpose',
      'plan',
      '--body-file',
      join(lab.root, 'plan.md'),
    ];
    expect((await runCli(args, { cwd: lab.clone, env: env(lab) })).stdout).toContain(
      'created the plan comment',
    );
    expect((await runCli(args, { cwd: lab.clone, env: env(lab) })).stdout).toContain(
      'unchanged the plan comment',
    );
  });
});
