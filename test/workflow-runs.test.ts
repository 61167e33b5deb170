import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT, GitHubStandIn } from './helpers/github-standin.js';
import { checkRequest } from './helpers/openapi.js';
import { REPO_ROOT } from './helpers/repo.js';
import {
  decideJobs,
  dispatchEvent,
  type GitHubEvent,
  jobOf,
  jobsOf,
  loadWorkflow,
  OWNER,
  REPO,
  triggers,
  WORKFLOW_DIR,
  type Workflow,
} from './helpers/workflow-harness.js';
import {
  failure,
  makeRepository,
  openPullRequest,
  type Repository,
  runJob,
  scheduled,
} from './helpers/workflow-runner.js';

// Every workflow as GitHub would run it: its triggers, filters and `if:` evaluated by GitHub's own
// parser and evaluator for real event payloads, and its jobs' commands run in a fresh clone.

const FILES = readdirSync(WORKFLOW_DIR).filter((f) => f.endsWith('.yml'));
let workflows: Workflow[];
let repo: Repository;

beforeAll(async () => {
  workflows = await Promise.all(FILES.map((f) => loadWorkflow(f)));
  repo = makeRepository();
});

const byFile = (file: string) => workflows.find((w) => w.file === file) as Workflow;

/** The events a lab sees: pushes to main touching each part, pull requests from a branch and a fork, schedules, dispatches. */
function everyEvent(): GitHubEvent[] {
  const sha = repo.main;
  const mainPush = (changed: string[]) => ({ ...pushOf(changed, sha) });
  return [
    mainPush(['README.md']),
    mainPush(['manifests/mean_test.yaml']),
    mainPush(['experiments/mean_test.py']),
    mainPush(['results/credit/2026-11-25T120000Z.yaml']),
    mainPush(['.github/workflows/deploy.yml']),
    pullOf(false),
    pullOf(true),
    ...workflows.flatMap((w) => (w.events.schedule ?? []).map((s) => scheduledAt(s.cron, sha))),
    ...workflows
      .filter((w) => w.events.workflow_dispatch)
      .map((w) => dispatchEvent(w.file, sha, { count: '1', host: '', version: '101' })),
  ];
}

function pushOf(changed: string[], sha: string): GitHubEvent {
  return {
    name: 'push',
    payload: {
      ref: 'refs/heads/main',
      after: sha,
      repository: { full_name: `${OWNER}/${REPO}`, default_branch: 'main' },
    },
    ref: 'refs/heads/main',
    sha,
    changed,
    actor: 'ada',
  };
}

function pullOf(fork: boolean): GitHubEvent {
  return {
    name: 'pull_request',
    payload: {
      action: 'opened',
      number: 7,
      pull_request: {
        number: 7,
        head: { ref: 'x', repo: { full_name: fork ? `mallory/${REPO}` : `${OWNER}/${REPO}` } },
      },
      repository: { full_name: `${OWNER}/${REPO}`, default_branch: 'main' },
    },
    ref: 'refs/pull/7/merge',
    sha: repo.main,
    changed: ['manifests/mean_test.yaml'],
    baseRef: 'main',
    headRef: 'x',
    actor: fork ? 'mallory' : 'ada',
  };
}

function scheduledAt(cron: string, sha: string): GitHubEvent {
  return {
    name: 'schedule',
    payload: { schedule: cron },
    ref: 'refs/heads/main',
    sha,
    changed: [],
    actor: 'ada',
  };
}

describe("workflows under GitHub's own parser and evaluator", () => {
  it('parse as GitHub parses them (a broken one would throw)', async () => {
    expect(workflows.map((w) => w.file).sort()).toEqual([...FILES].sort());
    await expect(loadWorkflow('broken.yml', 'on: push\njobs:\n  x:\n    steps: []\n')).rejects.toThrow(
      /runs-on|steps/,
    );
  });

  it('start a scheduled job on its schedule event (whose payload has no repository)', () => {
    const withSchedule = workflows.filter((w) => (w.events.schedule ?? []).length > 0);
    for (const workflow of withSchedule)
      for (const schedule of workflow.events.schedule ?? []) {
        const decisions = decideJobs(workflow, scheduled(repo, schedule.cron));
        expect({ file: workflow.file, runs: decisions.some((d) => d.runs) }).toEqual({
          file: workflow.file,
          runs: true,
        });
      }
  });

  it('start the workflow that reconciles the BOINC server for every push to main, whatever it touches', () => {
    // A run refused because main moved on counts on the next push's run: every push must start it.
    const reconcilers = workflows.filter((w) =>
      jobsOf(w).some((j) =>
        JSON.stringify(j.steps.map((s) => ('run' in s ? s.run : ''))).match(
          /axiom(\.js)? (deploy|agent)|notify/,
        ),
      ),
    );
    expect(reconcilers.length).toBeGreaterThan(0);
    for (const changed of [
      ['README.md'],
      ['results/credit/2026-11-25T120000Z.yaml'],
      ['manifests/mean_test.yaml'],
    ])
      expect({
        changed,
        started: reconcilers.filter((w) => triggers(w, pushOf(changed, repo.main))).map((w) => w.file),
      }).toEqual({
        changed,
        started: reconcilers.map((w) => w.file),
      });
  });

  it('run no job on a self-hosted runner unless the operator opts in, for any event', () => {
    for (const event of everyEvent())
      for (const workflow of workflows)
        for (const decision of decideJobs(workflow, event))
          expect({
            file: workflow.file,
            job: decision.job,
            event: event.name,
            selfHosted: decision.runs && decision.runsOn.includes('self-hosted'),
          }).toEqual({
            file: workflow.file,
            job: decision.job,
            event: event.name,
            selfHosted: false,
          });
  });

  it('read every secret only in a job that names an environment (limited to main), never a repository secret', () => {
    for (const workflow of workflows)
      for (const job of jobsOf(workflow)) {
        const text = JSON.stringify(job.steps);
        if (!text.includes('secrets.')) continue;
        expect({
          file: workflow.file,
          job: job.id.value,
          environment: job.environment !== undefined,
        }).toEqual({
          file: workflow.file,
          job: job.id.value,
          environment: true,
        });
      }
  });
});

describe("each job's commands start in a fresh clone", () => {
  let standIn: GitHubStandIn;
  beforeAll(async () => {
    standIn = await GitHubStandIn.start({
      owner: OWNER,
      repo: REPO,
      origin: repo.origin,
      token: 'ghs_workflowtoken',
    });
  });
  afterAll(async () => {
    await standIn.close();
  });

  it('check: the required check passes on a pull request, and its plan comment is posted with the base code', async () => {
    const event = openPullRequest(repo, {
      number: 1,
      branch: 'axiom/readme',
      files: { 'README.md': '# changed\n' },
    });
    const artifacts = join(tmpdir(), `axiom-artifacts-${process.pid}-1`);
    const check = await runJob(byFile('check.yml'), 'check', { event, repo, artifacts });
    expect(failure(check)).toBeUndefined();
    expect(check.steps.find((s) => s.command?.includes('axiom.js check'))?.outcome).toBe('success');
    standIn.pulls.push({
      number: 1,
      title: 'a change',
      body: '',
      head: 'axiom/readme',
      base: 'main',
      state: 'open',
      mergedAt: null,
      mergeCommit: null,
      labels: [],
    });
    standIn
      .expect('GET /repos/{owner}/{repo}/pulls/{pull_number}')
      .expect('GET /repos/{owner}/{repo}/issues/{issue_number}/comments')
      .expect('POST /repos/{owner}/{repo}/issues/{issue_number}/comments');
    const comment = await runJob(byFile('check.yml'), 'comment', {
      event,
      repo,
      artifacts,
      env: { GITHUB_API_URL: standIn.url },
    });
    expect(failure(comment)).toBeUndefined();
    standIn.verify();
    expect(standIn.comments.at(-1)?.body).toContain('<!-- axiom:plan -->');
    expect(standIn.comments.at(-1)?.login).toBe(BOT.login);
  }, 300_000);

  it("app: the Linux leg's pip installs into a Python of its own, never the runner's system Python", async () => {
    const app = byFile('app.yml');
    const event = dispatchEvent('app.yml', repo.main, { version: '101' });
    // The system Python without GitHub's break-system-packages workaround, as on a self-hosted runner
    // or a container; no index, so pip stops at resolving rather than downloading.
    const run = await runJob(app, 'build', {
      event,
      repo,
      matrix: { os: 'ubuntu-24.04', platform: 'x86_64-pc-linux-gnu', exe: '', wrapper: 'LINUX' },
      env: { PIP_NO_INDEX: '1', PIP_FIND_LINKS: tmpdir() },
      skip: ({ run }) =>
        run && !/pip install/.test(run) ? 'after the install, nothing here can build PyInstaller' : undefined,
    });
    const pip = run.steps.find((s) => s.command?.includes('pip install'));
    expect(pip?.output).not.toContain('externally-managed-environment');
    expect(pip?.output).toMatch(/No matching distribution|Could not find a version/);
  }, 120_000);
});

describe("the machine the tests need, on GitHub's Ubuntu runners too", () => {
  function printed(osRelease: string): string[] {
    const file = join(tmpdir(), `os-release-${process.pid}`);
    writeFileSync(file, osRelease);
    return execFileSync('bash', [join(REPO_ROOT, 'scripts/install-deps.sh'), '--print'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, AXIOM_OS_RELEASE: file },
    })
      .split(/\s+/)
      .filter((p) => p !== '');
  }

  it('takes Chromium from Debian, and on Ubuntu (a snap there) uses the one the image has', () => {
    expect(printed('ID=debian\nVERSION_ID="13"\n')).toContain('chromium');
    const ubuntu = printed('ID=ubuntu\nVERSION_ID="24.04"\n');
    expect(ubuntu).toContain('bubblewrap');
    expect(ubuntu).not.toContain('chromium');
    expect(ubuntu).not.toContain('chromium-browser');
  });
});

describe('actions', () => {
  /**
   * The first major of each action whose action.yml runs on node24 (GITHUB-FACTS.md), and the tags
   * used here with their commits, read from each action's repository (2026-12).
   */
  const NODE24_FROM: Record<string, number> = {
    'actions/checkout': 5,
    'actions/setup-node': 5,
    'actions/setup-python': 6,
    'actions/upload-artifact': 6,
    'actions/download-artifact': 7,
    'actions/create-github-app-token': 3,
    'actions/upload-pages-artifact': 5,
    'actions/deploy-pages': 5,
  };
  const TAGS: Record<string, Record<string, string>> = {
    'actions/checkout': { 'v7.0.1': '3d3c42e5aac5ba805825da76410c181273ba90b1' },
    'actions/setup-node': { 'v7.0.0': '820762786026740c76f36085b0efc47a31fe5020' },
    'actions/setup-python': { 'v7.0.0': '5fda3b95a4ea91299a34e894583c3862153e4b97' },
    'actions/upload-artifact': { 'v7.0.0': 'bbbca2ddaa5d8feaa63e36b76fdaad77386f024f' },
    'actions/download-artifact': { 'v8.0.1': '3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c' },
    'actions/create-github-app-token': { 'v3.1.1': '1b10c78c7865c340bc4f6099eb2f838309f1e8c3' },
    'actions/upload-pages-artifact': { 'v5.0.0': 'fc324d3547104276b827a68afc52ff2a11cc49c9' },
    'actions/deploy-pages': { 'v5.0.0': 'cd2ce8fcbc39b97be8ca5fce6e763baed58fa128' },
  };

  it.each(FILES)('%s pins every action at a release that runs on node24', (file) => {
    const text = readFileSync(join(WORKFLOW_DIR, file), 'utf8');
    for (const match of text.matchAll(/uses:\s*([\w.-]+\/[\w.-]+)@([0-9a-f]{40})\s*#\s*(v\d+\.\d+\.\d+)/g)) {
      const [, action, sha, tag] = match as unknown as [string, string, string, string];
      expect({ action, major: Number(tag.slice(1).split('.')[0]) >= (NODE24_FROM[action] ?? 99) }).toEqual({
        action,
        major: true,
      });
      expect({ action, tag, sha }).toEqual({ action, tag, sha: TAGS[action]?.[tag] });
    }
    expect(text).not.toMatch(/uses:\s*[^\s#]+@[0-9a-f]{40}\s*$/m);
  });
});

describe("the docs' branch protection", () => {
  const docs = readFileSync(join(REPO_ROOT, 'docs/operating.md'), 'utf8');
  const ruleset = (kind: string) =>
    JSON.parse(new RegExp(`\`\`\`json ruleset-${kind}\n([\\s\\S]*?)\`\`\``).exec(docs)?.[1] ?? 'null');
  /** GitHub's merge rule for a pull request (docs.github.com, "Available rules for rulesets"). */
  function canMerge(
    rules: { type: string; parameters?: Record<string, unknown> }[],
    pr: { author: string; lastPusher: string; approvals: string[] },
    merger: string,
  ): boolean {
    const review = rules.find((r) => r.type === 'pull_request')?.parameters ?? {};
    const valid = pr.approvals.filter(
      (a) => a !== pr.author && (!review.require_last_push_approval || a !== pr.lastPusher),
    );
    return merger !== undefined && valid.length >= Number(review.required_approving_review_count ?? 0);
  }

  it('gives rulesets GitHub accepts; one person merges a results pull request after editing its credit file', () => {
    const solo = ruleset('solo');
    const team = ruleset('team');
    for (const body of [solo, team])
      expect(checkRequest('POST /repos/{owner}/{repo}/rulesets', new URLSearchParams(), body)).toEqual([]);
    // The App opened it, Ada edited the credit file (the last push) and approves what she merges.
    const edited = { author: BOT.login, lastPusher: 'ada', approvals: ['ada'] };
    expect(canMerge(solo.rules, edited, 'ada')).toBe(true);
    expect(canMerge(team.rules, edited, 'ada')).toBe(false);
    expect(canMerge(team.rules, { ...edited, approvals: ['ada', 'grace'] }, 'ada')).toBe(true);
    for (const body of [solo, team])
      expect(body.rules.map((r: { type: string }) => r.type)).toEqual(
        expect.arrayContaining(['non_fast_forward', 'required_status_checks']),
      );
  });
});
