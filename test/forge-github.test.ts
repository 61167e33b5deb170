import { mkdirSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ForgeError } from '../src/errors.js';
import type { Proposal } from '../src/forge/forge.js';
import { GITHUB_BODY_LIMIT } from '../src/forge/forge.js';
import { DEFAULT_IDENTITY } from '../src/forge/git.js';
import { GitHubForge } from '../src/forge/github.js';
import { git, type Lab, makeLab, showFile } from './helpers/git.js';
import { BOT, BOT_ID, DOCS, GitHubStandIn } from './helpers/github-standin.js';
import { runCli } from './helpers/repo.js';

const TOKEN = 'ghs_test_installation_token';
let lab: Lab;
let github: GitHubStandIn;
let limitLog: string[];

beforeEach(async () => {
  lab = makeLab();
  github = await GitHubStandIn.start({
    owner: 'axiom-lab',
    repo: 'research',
    origin: lab.origin,
    token: TOKEN,
  });
  limitLog = [];
});

afterEach(async () => {
  await github.close();
});

function forge(extra: Partial<ConstructorParameters<typeof GitHubForge>[0]> = {}): GitHubForge {
  return new GitHubForge({
    repoDir: lab.clone,
    remote: 'origin',
    repository: 'axiom-lab/research',
    token: TOKEN,
    apiUrl: github.url,
    serverUrl: 'https://github.example',
    identity: DEFAULT_IDENTITY,
    pacing: { writeGapMs: 0, notificationGapMs: 0, retryUnitMs: 20, rateLimitRetries: 2 },
    log: (line) => limitLog.push(line),
    ...extra,
  });
}

function proposal(overrides: Partial<Proposal> = {}): Proposal {
  return {
    branch: 'axiom/results/2026-11-25',
    base: 'main',
    title: 'Results of 2026-11-25',
    body: 'Three results, proposed credit 42.\n',
    labels: ['axiom:results'],
    commitMessage: 'Results of 2026-11-25',
    files: [{ path: 'results/mean_test/credit.yaml', content: 'entries: []\n' }],
    ...overrides,
  };
}

const LIST = 'GET /repos/{owner}/{repo}/pulls' as const;
const CREATE = 'POST /repos/{owner}/{repo}/pulls' as const;
const UPDATE = 'PATCH /repos/{owner}/{repo}/pulls/{pull_number}' as const;
const LABELS = 'POST /repos/{owner}/{repo}/issues/{issue_number}/labels' as const;
const COMMENTS = 'GET /repos/{owner}/{repo}/issues/{issue_number}/comments' as const;

describe('GitHub forge against the GitHub stand-in', () => {
  it('opens a pull request, then updates the same one, and an identical run changes nothing', async () => {
    github.expect(LIST).expect(CREATE).expect(LABELS);
    const created = await forge().openOrUpdate(proposal());
    github.verify();
    expect(created.action).toBe('created');
    expect(created.pullRequest).toMatchObject({
      number: 1,
      ref: '#1',
      state: 'open',
      labels: ['axiom:results'],
    });
    expect(showFile(lab.origin, 'axiom/results/2026-11-25', 'results/mean_test/credit.yaml')).toBe(
      'entries: []',
    );
    expect(github.pulls[0]).toMatchObject({
      head: 'axiom/results/2026-11-25',
      base: 'main',
      title: 'Results of 2026-11-25',
    });

    github.expect(LIST).expect(UPDATE);
    const updated = await forge().openOrUpdate(
      proposal({
        body: 'Four results.\n',
        files: [{ path: 'results/mean_test/credit.yaml', content: 'entries: [1]\n' }],
      }),
    );
    github.verify();
    expect(updated.action).toBe('updated');
    expect(github.pulls).toHaveLength(1);
    expect(github.pulls[0]?.body).toBe('Four results.\n');
    expect(git(lab.origin, 'rev-parse', 'axiom/results/2026-11-25^')).toBe(created.commit);

    const tip = git(lab.origin, 'rev-parse', 'axiom/results/2026-11-25');
    github.expect(LIST);
    const same = await forge().openOrUpdate(
      proposal({
        body: 'Four results.\n',
        files: [{ path: 'results/mean_test/credit.yaml', content: 'entries: [1]\n' }],
      }),
    );
    github.verify();
    expect(same.action).toBe('unchanged');
    expect(git(lab.origin, 'rev-parse', 'axiom/results/2026-11-25')).toBe(tip);
  });

  it('keeps one sticky comment per purpose, found again across pages, and ignores markers from outsiders', async () => {
    github.expect(LIST).expect(CREATE);
    const { pullRequest } = await forge().openOrUpdate(proposal({ labels: [] }));
    github.verify();
    // An outsider copies the marker: never edited, never mistaken for ours.
    github.seedComment(1, '<!-- axiom:plan -->\nfake plan', {
      login: 'mallory',
      type: 'User',
      association: 'NONE',
    });
    for (let i = 0; i < 120; i++)
      github.seedComment(1, `chatter ${i}`, { login: 'ada', type: 'User', association: 'MEMBER' });

    github
      .expect(COMMENTS)
      .expect(COMMENTS)
      .expect('POST /repos/{owner}/{repo}/issues/{issue_number}/comments');
    expect(await forge().upsertComment(pullRequest, 'plan', 'plan v1')).toBe('created');
    github.verify();

    github
      .expect(COMMENTS)
      .expect(COMMENTS)
      .expect('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}');
    expect(await forge().upsertComment(pullRequest, 'plan', 'plan v2')).toBe('updated');
    github.verify();

    github.expect(COMMENTS).expect(COMMENTS);
    expect(await forge().upsertComment(pullRequest, 'plan', 'plan v2')).toBe('unchanged');
    github.verify();

    const plans = github.comments.filter((c) => c.body.startsWith('<!-- axiom:plan -->'));
    expect(plans.map((c) => [c.login, c.body])).toEqual([
      ['mallory', '<!-- axiom:plan -->\nfake plan'],
      [BOT.login, '<!-- axiom:plan -->\nplan v2'],
    ]);
  });

  it('cuts an over-long body, commits the full text on the branch and links it', async () => {
    const long = `${'A line of the results table.\n'.repeat(3000)}The end.\n`;
    expect(long.length).toBeGreaterThan(GITHUB_BODY_LIMIT);
    github.expect(LIST).expect(CREATE).expect(LABELS);
    const outcome = await forge().openOrUpdate(proposal({ body: long }));
    github.verify();
    const body = github.pulls[0]?.body ?? '';
    expect(body.length).toBeLessThanOrEqual(GITHUB_BODY_LIMIT);
    expect(outcome.bodyFile).toBe('.axiom/pull-requests/results--2026-11-25.md');
    expect(body).toContain(
      '(https://github.example/axiom-lab/research/blob/axiom/results/2026-11-25/.axiom/pull-requests/results--2026-11-25.md)',
    );
    expect(body.startsWith('A line of the results table.\n')).toBe(true);
    expect(`${showFile(lab.origin, 'axiom/results/2026-11-25', outcome.bodyFile as string)}\n`).toBe(long);
  });

  it('waits out a 403 rate limit and retries', async () => {
    github.expect(LIST).expect(CREATE, () => ({
      status: 403,
      body: {
        message: 'API rate limit exceeded for installation.',
        documentation_url: DOCS,
      },
      headers: {
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(Math.floor(Date.now() / 1000)),
      },
    }));
    github.expect(CREATE).expect(LABELS);
    const outcome = await forge().openOrUpdate(proposal());
    github.verify();
    expect(outcome.action).toBe('created');
    expect(limitLog.join('\n')).toMatch(/GitHub rate limit on POST .*pulls; retrying/);
    expect(github.pulls).toHaveLength(1);
  });

  it('waits out a secondary rate limit (403 with retry-after) and retries', async () => {
    github.expect(LIST).expect(CREATE);
    github.expect(COMMENTS).expect('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', () => ({
      status: 403,
      body: {
        message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
        documentation_url: DOCS,
      },
      headers: { 'retry-after': '1' },
    }));
    github.expect('POST /repos/{owner}/{repo}/issues/{issue_number}/comments');
    const { pullRequest } = await forge().openOrUpdate(proposal({ labels: [] }));
    expect(await forge().upsertComment(pullRequest, 'plan', 'the plan')).toBe('created');
    github.verify();
    expect(limitLog.join('\n')).toMatch(/secondary rate limit on POST .*comments; retrying in 1 s/);
    expect(github.comments).toHaveLength(1);
  });

  it('gives up on a rate limit that does not lift, with a ForgeError', async () => {
    const limited = () => ({
      status: 403,
      body: {
        message: 'API rate limit exceeded for installation.',
        documentation_url: DOCS,
      },
      headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000)) },
    });
    github.expect(LIST).expect(CREATE, limited).expect(CREATE, limited).expect(CREATE, limited);
    const error = await forge()
      .openOrUpdate(proposal())
      .catch((e: unknown) => e);
    github.verify();
    expect(error).toBeInstanceOf(ForgeError);
    expect((error as ForgeError).status).toBe(403);
    expect((error as Error).message).toContain('GitHub refused to open a pull request (HTTP 403)');
  });

  it('treats a 422 "already exists" as a pull request another run opened, and updates it', async () => {
    github.expect(LIST, () => ({ status: 200, body: [] })); // the other run's pull request is not visible yet
    github.expect(CREATE, () => {
      github.pulls.push({
        number: 7,
        title: 'Opened by another run',
        body: '',
        head: 'axiom/results/2026-11-25',
        base: 'main',
        state: 'open',
        mergedAt: null,
        mergeCommit: null,
        labels: ['axiom:results'],
      });
      return {
        status: 422,
        body: {
          message: 'Validation Failed',
          errors: [
            {
              resource: 'PullRequest',
              code: 'custom',
              message: 'A pull request already exists for axiom-lab:axiom/results/2026-11-25.',
            },
          ],
          documentation_url: DOCS,
        },
      };
    });
    github.expect(LIST).expect(UPDATE);
    const outcome = await forge().openOrUpdate(proposal());
    github.verify();
    expect(outcome.pullRequest.number).toBe(7);
    expect(outcome.action).toBe('updated');
    expect(github.pulls[0]?.title).toBe('Results of 2026-11-25');
  });

  it('reports other 422 answers and a refused token as ForgeErrors with the status', async () => {
    github.expect(LIST).expect(CREATE, () => ({
      status: 422,
      body: {
        message: 'Validation Failed',
        errors: [{ resource: 'PullRequest', code: 'invalid', field: 'base' }],
        documentation_url: DOCS,
      },
    }));
    const invalid = await forge()
      .openOrUpdate(proposal())
      .catch((e: unknown) => e);
    github.verify();
    expect(invalid).toBeInstanceOf(ForgeError);
    expect((invalid as ForgeError).status).toBe(422);

    const wrong = new GitHubForge({
      repoDir: lab.clone,
      remote: 'origin',
      repository: 'axiom-lab/research',
      token: 'wrong',
      apiUrl: github.url,
      serverUrl: 'https://github.example',
      identity: DEFAULT_IDENTITY,
    });
    const refused = await wrong.findOpen('axiom/x').catch((e: unknown) => e);
    expect((refused as ForgeError).status).toBe(401);
    expect((refused as Error).message).toContain('set GITHUB_TOKEN to a valid token');
    expect(github.refusals).toEqual(['GET /repos/{owner}/{repo}/pulls: 401 Bad credentials']);
    github.verify();
  });

  it("lists this repository's open results pull requests across pages, never a fork's, and reads files on them", async () => {
    github.expect(LIST).expect(CREATE).expect(LABELS);
    const ours = await forge().openOrUpdate(
      proposal({
        branch: 'axiom/results-2026-11-25t120000z',
        files: [
          {
            path: 'results/credit/2026-11-25T120000Z.yaml',
            content: 'run: 2026-11-25T120000Z\nentries: []\n',
          },
        ],
      }),
    );
    // A fork's pull request may carry any branch name, ours included; a hundred more fill the first page.
    github.pulls.push({
      ...(github.pulls[0] as (typeof github.pulls)[number]),
      number: 2,
      headOwner: 'mallory',
    });
    for (let i = 0; i < 100; i++)
      github.pulls.push({
        ...(github.pulls[0] as (typeof github.pulls)[number]),
        number: 3 + i,
        head: `axiom/propose/x${i}`,
      });
    // Ours on the second page, as GitHub lists the newest first.
    github.pulls.push(github.pulls.shift() as (typeof github.pulls)[number]);
    github.expect(LIST).expect(LIST);
    const open = await forge().listOpen('axiom/results');
    expect(open.map((p) => p.number)).toEqual([ours.pullRequest.number]);
    expect(await forge().readFile(ours.pullRequest, 'results/credit/2026-11-25T120000Z.yaml')).toBe(
      'run: 2026-11-25T120000Z\nentries: []\n',
    );
    expect(await forge().readFile(ours.pullRequest, 'results/credit/none.yaml')).toBeUndefined();
    github.verify();
  });

  it('lists pull requests closed without merging and reads them after their branch is deleted', async () => {
    github.expect(LIST).expect(CREATE).expect(LABELS);
    const created = await forge().openOrUpdate(
      proposal({
        branch: 'axiom/results-2026-11-25t120000z',
        files: [{ path: 'results/credit/a.yaml', content: 'entries: []\n' }],
      }),
    );
    // Someone closes it (GitHub keeps refs/pull/1/head) and the head branch is deleted.
    github.expect(LIST);
    await forge().listOpen('axiom/results');
    (github.pulls[0] as { state: string }).state = 'closed';
    git(lab.origin, 'update-ref', '-d', 'refs/heads/axiom/results-2026-11-25t120000z');
    github.expect(LIST);
    const closed = await forge().listClosed('axiom/results');
    expect(closed.map((p) => [p.number, p.state])).toEqual([[created.pullRequest.number, 'closed']]);
    expect(await forge().readFile(closed[0] as (typeof closed)[number], 'results/credit/a.yaml')).toBe(
      'entries: []\n',
    );
    github.verify();
  });

  it("commits as the App's bot and trusts only its marker comments, not another app's or a member's", async () => {
    const asBot = forge({ botLogin: BOT.login });
    github.expect(LIST).expect('GET /users/{username}').expect(CREATE);
    const { pullRequest, commit } = await asBot.openOrUpdate(proposal({ labels: [] }));
    github.verify();
    expect(git(lab.origin, 'log', '-1', '--format=%an <%ae>|%cn <%ce>', commit as string)).toBe(
      `${BOT.login} <${BOT_ID}+${BOT.login}@users.noreply.github.com>|${BOT.login} <${BOT_ID}+${BOT.login}@users.noreply.github.com>`,
    );
    github.seedComment(1, '<!-- axiom:plan -->\nfrom another app', {
      login: 'other-app[bot]',
      type: 'Bot',
      association: 'NONE',
    });
    github.seedComment(1, '<!-- axiom:plan -->\nfrom a member', {
      login: 'ada',
      type: 'User',
      association: 'MEMBER',
    });
    github.expect(COMMENTS).expect('POST /repos/{owner}/{repo}/issues/{issue_number}/comments');
    expect(await asBot.upsertComment(pullRequest, 'plan', 'plan v1')).toBe('created');
    github.verify();
    expect(
      github.comments.filter((c) => c.body.startsWith('<!-- axiom:plan -->')).map((c) => c.login),
    ).toEqual(['other-app[bot]', 'ada', BOT.login]);
  });

  it('opens the pull request when labels are refused, with a warning, and later runs go on', async () => {
    github.permissions.issues = false;
    github.expect(LIST).expect(CREATE).expect(LABELS);
    const created = await forge().openOrUpdate(proposal());
    github.verify();
    expect(created).toMatchObject({ action: 'created', pullRequest: { number: 1, labels: [] } });
    expect(limitLog.join('\n')).toContain(
      'warning: labels axiom:results not added to #1: GitHub refused to add labels (HTTP 403): Resource not accessible by integration',
    );
    github.expect(LIST).expect(LABELS);
    const again = await forge().openOrUpdate(
      proposal({ files: [{ path: 'results/mean_test/credit.yaml', content: 'entries: [1]\n' }] }),
    );
    github.verify();
    expect(again.action).toBe('updated');
  });

  it('replaces a leftover branch by deleting it, so workflow changes on main never ride a force-push', async () => {
    // A branch left over from a closed pull request, made from an older main.
    git(lab.clone, 'checkout', '--quiet', '-b', 'axiom/results/2026-11-25');
    writeFileSync(`${lab.clone}/old.txt`, 'old\n');
    git(lab.clone, 'add', 'old.txt');
    git(lab.clone, 'commit', '--quiet', '-m', 'old proposal');
    git(lab.clone, 'push', '--quiet', 'origin', 'axiom/results/2026-11-25');
    // Since then main changed a workflow (pushed by a person, who may).
    git(lab.clone, 'checkout', '--quiet', 'main');
    github.setWorkflowsPermission(true);
    mkdirSync(`${lab.clone}/.github/workflows`, { recursive: true });
    writeFileSync(`${lab.clone}/.github/workflows/ci.yml`, 'on: push\n');
    git(lab.clone, 'add', '.github');
    git(lab.clone, 'commit', '--quiet', '-m', 'a workflow');
    git(lab.clone, 'push', '--quiet', 'origin', 'main');
    github.setWorkflowsPermission(false);
    const main = git(lab.clone, 'rev-parse', 'main');
    // What GitHub does to a force-push that carries it:
    expect(() =>
      git(lab.clone, 'push', '--quiet', '--force', 'origin', 'main:refs/heads/axiom/results/2026-11-25'),
    ).toThrow(
      /refusing to allow a GitHub App to create or update workflow `\.github\/workflows\/ci\.yml` without `workflows` permission/,
    );
    github.expect(LIST).expect(CREATE).expect(LABELS);
    const created = await forge().openOrUpdate(proposal());
    github.verify();
    expect(created.action).toBe('created');
    expect(git(lab.origin, 'rev-parse', 'axiom/results/2026-11-25^')).toBe(main);
    expect(showFile(lab.origin, 'axiom/results/2026-11-25', 'old.txt')).toBeUndefined();
  });

  it('fails the test on a request nobody expected, and on an expectation never used', async () => {
    github.expect(LIST);
    await expect(forge().openOrUpdate(proposal())).rejects.toThrow(ForgeError);
    expect(() => github.verify()).toThrow(/unexpected request POST \/repos\/\{owner\}\/\{repo\}\/pulls/);
    github.expect(LIST);
    expect(() => github.verify()).toThrow('expected request never made: GET /repos/{owner}/{repo}/pulls');
  });

  it('adds and removes lifecycle labels, and reads what a merge brought in', async () => {
    github.expect(LIST).expect(CREATE).expect(LABELS);
    const { pullRequest } = await forge().openOrUpdate(proposal());
    github.verify();
    github.expect(LABELS).expect('DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}');
    expect(
      await forge().setLabels(pullRequest, { add: ['axiom:credited'], remove: ['axiom:results'] }),
    ).toEqual(['axiom:credited']);
    github.verify();

    // Someone merges on GitHub: a merge commit on main in the real repository.
    git(lab.clone, 'fetch', '--quiet', 'origin');
    git(
      lab.clone,
      'merge',
      '--quiet',
      '--no-ff',
      '-m',
      'Merge pull request #1',
      'origin/axiom/results/2026-11-25',
    );
    git(lab.clone, 'push', '--quiet', 'origin', 'main');
    const merge = git(lab.clone, 'rev-parse', 'HEAD');
    Object.assign(github.pulls[0] as object, {
      state: 'closed',
      mergedAt: '2026-11-25T12:00:00Z',
      mergeCommit: merge,
    });
    github.expect('GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls');
    const info = await forge().mergeInfo(merge);
    github.verify();
    expect(info.files).toEqual(['results/mean_test/credit.yaml']);
    expect(info.pullRequest).toMatchObject({ number: 1, state: 'merged' });
  });

  it('posts the plan comment through `axiom pr comment` with the GitHub forge', async () => {
    github.expect(LIST).expect(CREATE);
    await forge().openOrUpdate(proposal({ labels: [] }));
    github.verify();
    const env = {
      PATH: process.env.PATH,
      AXIOM_FORGE: 'github',
      GITHUB_TOKEN: TOKEN,
      GITHUB_REPOSITORY: 'axiom-lab/research',
      GITHUB_API_URL: github.url,
    };
    writeFileSync(`${lab.root}/plan.md`, '## Plan\n');
    github.expect('GET /repos/{owner}/{repo}/pulls/{pull_number}').expect(COMMENTS);
    github.expect('POST /repos/{owner}/{repo}/issues/{issue_number}/comments');
    const result = await runCli(
      ['pr', 'comment', '1', '--purpose', 'plan', '--body-file', `${lab.root}/plan.md`],
      {
        cwd: lab.clone,
        env,
      },
    );
    github.verify();
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('created the plan comment on #1\n');
    expect(github.comments[0]?.body).toBe('<!-- axiom:plan -->\n## Plan\n');
  });
});
