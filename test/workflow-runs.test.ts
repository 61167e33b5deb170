import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createListener } from '../src/agent/listener.js';
import { AGENT_CHECK_NAME } from '../src/forge/reports.js';
import { ClaudeStandIn } from './helpers/claude-standin.js';
import { GOOD_DESIGN } from './helpers/designs.js';
import { git } from './helpers/git.js';
import { GITHUB_ACTIONS_APP } from './helpers/github-apps.js';
import { BOT, GitHubStandIn } from './helpers/github-standin.js';
import { installedTree } from './helpers/npm-ci.js';
import { checkRequest } from './helpers/openapi.js';
import { REPO_ROOT } from './helpers/repo.js';
import {
  decideJobs,
  dispatchEvent,
  type GitHubEvent,
  githubContext,
  jobOf,
  jobPermissions,
  jobsOf,
  loadWorkflow,
  OWNER,
  REPO,
  resolve,
  scheduleEvent,
  triggers,
  WORKFLOW_DIR,
  type Workflow,
} from './helpers/workflow-harness.js';
import {
  failure,
  makeRepository,
  openPullRequest,
  push,
  type Repository,
  type RepositorySettings,
  runJob,
  scheduled,
} from './helpers/workflow-runner.js';

// Every workflow as GitHub would run it: its triggers, filters and `if:` evaluated by GitHub's own
// parser and evaluator for real event payloads, and its jobs' commands run in a fresh clone.

const FILES = readdirSync(WORKFLOW_DIR).filter((f) => f.endsWith('.yml'));
/** A branch name that is a shell command where a workflow pastes it into a script. */
const MARKER = join(tmpdir(), `pwned-${process.pid}`);
const INJECTED = `a";touch\${IFS}${MARKER};"`;
/** The agent's GitHub App. */
const AGENT_APP = { id: 424_242, slug: 'axiom-lab-agent', clientId: 'Iv23liAxiomAgent', installationId: 77 };
let workflows: Workflow[];
let repo: Repository;

beforeAll(async () => {
  workflows = await Promise.all(FILES.map((f) => loadWorkflow(f)));
  repo = makeRepository();
});

const byFile = (file: string) => workflows.find((w) => w.file === file) as Workflow;

/**
 * The repository as docs/operating.md sets it up: its environments table (each environment's secrets
 * and variables, deployment branches main only) and no repository secret at all. Every secret gets a
 * value of its own, so that a test can look for it anywhere a job could leave it.
 */
function documentedSettings(): RepositorySettings {
  const docs = readFileSync(join(REPO_ROOT, 'docs/operating.md'), 'utf8');
  const environments: RepositorySettings['environments'] = {};
  const names = (cell: string) => [...cell.matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1] as string);
  for (const row of docs.matchAll(/^\s*\| `([a-z-]+)`\s*\|([^|]*)\|([^|]*)\|([^|]*)\|\s*$/gm)) {
    const [, name, secrets, vars] = row as unknown as [string, string, string, string];
    environments[name] = {
      branches: ['main'],
      secrets: Object.fromEntries(
        names(secrets).map((n) => [n, `secret-${n}-${randomBytes(6).toString('hex')}`]),
      ),
      vars: Object.fromEntries(names(vars).map((n) => [n, ''])),
    };
  }
  return { secrets: {}, vars: {}, environments };
}

/** Every secret value of the settings: none may appear in what a job left. */
function secretValues(settings: RepositorySettings): string[] {
  return Object.values(settings.environments).flatMap((e) => Object.values(e.secrets));
}

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
    ...workflows.flatMap((w) => (w.events.schedule ?? []).map((s) => scheduleEvent(s.cron, sha))),
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

  it("opted in (AXIOM_SELF_HOSTED), run a self-hosted job only for main's own runs, in an environment, and notify no more", () => {
    const vars = { AXIOM_SELF_HOSTED: 'true' };
    const selfHosted: string[] = [];
    for (const event of everyEvent())
      for (const workflow of workflows)
        for (const decision of decideJobs(workflow, event, { vars }).filter((d) => d.runs)) {
          const where = `${workflow.file}/${decision.job} on ${event.name} ${event.ref}`;
          expect({ where, notify: decision.job === 'notify' }).toEqual({ where, notify: false });
          if (!decision.runsOn.includes('self-hosted')) continue;
          selfHosted.push(where);
          expect({ where, ref: event.ref, environment: decision.environment }).toEqual({
            where,
            ref: 'refs/heads/main',
            environment: 'boinc',
          });
        }
    expect(selfHosted).toEqual(
      expect.arrayContaining([expect.stringMatching(/^deploy\.yml\/reconcile on push/)]),
    );
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

  it('check: the required check passes on a pull request from an injected branch name, and its plan comment is posted with the base code', async () => {
    const event = openPullRequest(repo, {
      number: 1,
      branch: INJECTED,
      files: { 'README.md': '# changed\n' },
    });
    const artifacts = join(tmpdir(), `axiom-artifacts-${process.pid}-1`);
    const check = await runJob(byFile('check.yml'), 'check', { event, repo, artifacts });
    expect(failure(check)).toBeUndefined();
    expect(check.steps.find((s) => s.command?.includes('axiom.js check'))?.outcome).toBe('success');
    expect(check.steps.find((s) => s.command?.startsWith('npm ci'))?.note).toMatch(
      /^npm ci: this tree's installed packages/,
    );
    standIn.pulls.push({
      number: 1,
      title: 'a change',
      body: '',
      head: INJECTED,
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
      token: standIn.issueToken(jobPermissions(byFile('check.yml'), 'comment'), GITHUB_ACTIONS_APP),
      env: { GITHUB_API_URL: standIn.url },
    });
    expect(failure(comment)).toBeUndefined();
    standIn.verify();
    expect(standIn.comments.at(-1)?.body).toContain('<!-- axiom:plan -->');
    // The workflow's own token comments as github-actions[bot], the login the job tells axiom.
    expect(standIn.comments.at(-1)?.login).toBe('github-actions[bot]');
    expect(existsSync(MARKER)).toBe(false);
  }, 300_000);

  it('ci: the test job starts .ci/run on a pull request from an injected branch name, which installs and runs the suite', async () => {
    const event = openPullRequest(repo, { number: 2, branch: INJECTED, files: { 'README.md': '# ci\n' } });
    const osRelease = join(tmpdir(), `os-release-ubuntu-${process.pid}`);
    writeFileSync(osRelease, 'ID=ubuntu\nVERSION_ID="24.04"\n');
    const npmLog = join(tmpdir(), `npm-log-${process.pid}`);
    rmSync(npmLog, { force: true });
    // `.ci/run` ends in the suite this test is part of: its npm is recorded, not run again. A fresh
    // Ubuntu image has none of the Debian packages installed, so install-deps asks apt for each.
    const run = await runJob(byFile('ci.yml'), 'test', {
      event,
      repo,
      env: { AXIOM_OS_RELEASE: osRelease },
      shims: {
        npm: `#!/bin/sh\nprintf '%s\\n' "$*" >> ${npmLog}\n`,
        'dpkg-query': '#!/bin/sh\nexit 1\n',
      },
    });
    expect(failure(run)).toBeUndefined();
    // Ubuntu's chromium packages install the snap: apt is never asked for one there.
    const apt = run.sudo.find((c) => c.startsWith('apt-get install')) ?? '';
    expect(apt).toContain('bubblewrap');
    expect(apt.split(' ')).not.toEqual(expect.arrayContaining([expect.stringMatching(/^chromium/)]));
    expect(run.sudo).toEqual(
      expect.arrayContaining([
        'sysctl -w kernel.apparmor_restrict_unprivileged_userns=0',
        'mariadb-admin ping --silent',
        'mariadb',
      ]),
    );
    expect(run.steps.at(-1)?.output).toContain(
      'MariaDB is running; test user axiom_test can log in on 127.0.0.1:3306',
    );
    expect(readFileSync(npmLog, 'utf8').trim().split('\n')).toEqual(['ci --no-audit --no-fund', 'test']);
    expect(existsSync(MARKER)).toBe(false);
  }, 120_000);

  it('site: builds every page from a fresh clone with its history, and deploys them to Pages from main', async () => {
    const event = push(repo, 'main', { 'README.md': '# the site moved\n' });
    const artifacts = join(tmpdir(), `axiom-artifacts-${process.pid}-site`);
    const settings = documentedSettings();
    const build = await runJob(byFile('site.yml'), 'build', { event, repo, artifacts, settings });
    expect(failure(build)).toBeUndefined();
    expect(existsSync(join(artifacts, 'github-pages', 'index.html'))).toBe(true);
    const deploy = await runJob(byFile('site.yml'), 'deploy', { event, repo, artifacts, settings });
    expect(failure(deploy)).toBeUndefined();
    expect(deploy.steps[0]?.note).toBe('deployed the pages artifact');
  }, 300_000);

  it("propose: designs with the Claude key of its environment and opens the pull request with its App's token", async () => {
    const settings = documentedSettings();
    const propose = settings.environments.propose as RepositorySettings['environments'][string];
    propose.vars.AXIOM_PROPOSER_CLIENT_ID = 'Iv23liAxiomProposer';
    const key = propose.secrets.ANTHROPIC_API_KEY as string;
    const claude = await ClaudeStandIn.start(key, () => GOOD_DESIGN);
    try {
      claude.expect('count_tokens', 1).expect('messages', 1);
      // The App's bot account gives the commits their author (its noreply address).
      standIn
        .expect('GET /users/{username}')
        .expectTimes('GET /repos/{owner}/{repo}/pulls', 2)
        .expect('POST /repos/{owner}/{repo}/pulls')
        .expect('POST /repos/{owner}/{repo}/issues/{issue_number}/labels');
      const run = await runJob(byFile('propose.yml'), 'propose', {
        event: dispatchEvent('propose.yml', repo.main, { count: '1', host: '' }),
        repo,
        settings,
        appToken: standIn.issueToken({ contents: 'write', pull_requests: 'write', issues: 'write' }),
        env: { GITHUB_API_URL: standIn.url, ANTHROPIC_BASE_URL: claude.url },
      });
      expect(failure(run)).toBeUndefined();
      expect(run.sudo).toContain('apt-get install -y -qq --no-install-recommends python3-numpy bubblewrap');
      claude.verify();
      standIn.verify();
      expect(standIn.pulls.at(-1)).toMatchObject({ head: 'axiom/propose/coin_flips', state: 'open' });
      expect(standIn.pulls.at(-1)?.body).toContain('**Designed by claude-sonnet-5-5**');
    } finally {
      await claude.close();
    }
  }, 300_000);

  it('deploy (notify): tells the agent that main moved with a notice it takes, and shows its report', async () => {
    const settings = documentedSettings();
    const agent = settings.environments.agent as RepositorySettings['environments'][string];
    const secret = agent.secrets.AXIOM_AGENT_WEBHOOK_SECRET as string;
    const notices: string[] = [];
    const listener: Server = createListener({ secret, path: '/hook', onNotice: (c) => notices.push(c) });
    await new Promise<void>((done) => listener.listen(0, '127.0.0.1', done));
    try {
      agent.vars.AXIOM_AGENT_URL = `http://127.0.0.1:${(listener.address() as AddressInfo).port}/hook`;
      agent.vars.AXIOM_AGENT_APP_ID = String(AGENT_APP.id);
      const event = push(repo, 'main', { 'README.md': '# main moved\n' });
      // The agent reports on the commit with its own App (a-agent-github.test.ts runs the agent itself).
      const keys = generateKeyPairSync('rsa', {
        modulusLength: 2048,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      });
      standIn.installApp({
        ...AGENT_APP,
        publicKey: keys.publicKey,
        repositories: [REPO],
        permissions: { checks: 'write' },
      });
      standIn.allow(
        'POST /repos/{owner}/{repo}/check-runs',
        'GET /repos/{owner}/{repo}/commits/{ref}/check-runs',
        'GET /repos/{owner}/{repo}/commits/{ref}',
      );
      const agentToken = standIn.issueToken({ checks: 'write' }, AGENT_APP);
      const posted = await fetch(`${standIn.url}/repos/${OWNER}/${REPO}/check-runs`, {
        method: 'POST',
        headers: { authorization: `token ${agentToken}`, accept: 'application/vnd.github+json' },
        body: JSON.stringify({
          name: AGENT_CHECK_NAME,
          head_sha: event.sha,
          conclusion: 'success',
          output: { title: 'deploy: 0 created, 0 failed', summary: 'nothing to do' },
        }),
      });
      expect(posted.status).toBe(201);
      const deploy = byFile('deploy.yml');
      const run = await runJob(deploy, 'notify', {
        event,
        repo,
        settings,
        token: standIn.issueToken(jobPermissions(deploy, 'notify'), GITHUB_ACTIONS_APP),
        env: { GITHUB_API_URL: standIn.url },
      });
      expect(failure(run)).toBeUndefined();
      expect(run.steps[0]?.note).toContain('sparse: scripts/agent');
      expect(notices).toEqual([event.sha]);
      expect(run.summary).toContain('## The agent on the BOINC server: success');
      expect(run.summary).toContain('**deploy: 0 created, 0 failed**');
      standIn.verify();
    } finally {
      listener.close();
    }
  }, 120_000);

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

/** The workflows GitHub runs for an event at a commit: those of that commit (a branch's, a pull request's merge). */
async function workflowsAt(r: Repository, sha: string): Promise<Workflow[]> {
  const files = git(r.clone, 'ls-tree', '--name-only', `${sha}:.github/workflows`).split('\n');
  return Promise.all(
    files.map((f) => loadWorkflow(f, git(r.clone, 'show', `${sha}:.github/workflows/${f}`))),
  );
}

/**
 * Runs every job the event starts, with the settings; what each left, by workflow and job. Here the
 * question is what a job can read, not whether its commands work (the tests above prove that): npm
 * is recorded, not run, so that ci's job does not start the suite again.
 */
async function runEverything(r: Repository, event: GitHubEvent, settings: RepositorySettings) {
  const runs: { where: string; refused?: string; text: string }[] = [];
  const shims = { npm: '#!/bin/sh\necho "npm $*: recorded, not run"\n' };
  for (const workflow of await workflowsAt(r, event.sha))
    for (const decision of decideJobs(workflow, event, { vars: settings.vars }).filter((d) => d.runs)) {
      const run = await runJob(workflow, decision.job, {
        event,
        repo: r,
        settings,
        matrix: decision.matrix,
        shims,
      });
      runs.push({
        where: `${workflow.file}/${decision.job}`,
        ...(run.refused ? { refused: run.refused } : {}),
        text: JSON.stringify(run),
      });
    }
  return runs;
}

const STEAL = `on: [push, pull_request, workflow_dispatch]
jobs:
  steal:
    runs-on: ubuntu-24.04
    environment: agent
    steps:
      - run: echo "\${{ secrets.AXIOM_AGENT_WEBHOOK_SECRET }}" | curl --data-binary @- "\${{ vars.AXIOM_AGENT_URL }}"
  propose-key:
    runs-on: ubuntu-24.04
    environment: propose
    steps:
      - run: echo "\${{ secrets.AXIOM_PROPOSER_PRIVATE_KEY }} \${{ secrets.ANTHROPIC_API_KEY }}"
  plain:
    runs-on: ubuntu-24.04
    steps:
      - run: echo "[\${{ secrets.AXIOM_AGENT_WEBHOOK_SECRET }}][\${{ secrets.AXIOM_PROPOSER_PRIVATE_KEY }}][\${{ secrets.ANTHROPIC_API_KEY }}]"; env
  server:
    runs-on: [self-hosted, linux, boinc]
    steps:
      - run: cat /etc/axiom/agent.env
`;

describe('a collaborator with write access', () => {
  // Their own pushes: a person may change workflows, which the App's pushes above may not.
  let own: Repository;
  beforeAll(() => {
    own = makeRepository();
  });

  it("pushes a branch whose own workflow asks for every secret and the BOINC server's runner: it gets none of them", async () => {
    const settings = documentedSettings();
    const event = push(own, 'evil', { '.github/workflows/steal.yml': STEAL });
    const runs = await runEverything(own, event, settings);
    expect(runs.map((r) => [r.where, r.refused ?? 'ran'])).toEqual([
      [
        'steal.yml/steal',
        'Branch "evil" is not allowed to deploy to agent due to environment protection rules.',
      ],
      [
        'steal.yml/propose-key',
        'Branch "evil" is not allowed to deploy to propose due to environment protection rules.',
      ],
      ['steal.yml/plain', 'ran'],
      [
        'steal.yml/server',
        'Waiting for a runner to pick up this job: no self-hosted runner has the labels self-hosted, linux, boinc',
      ],
    ]);
    const plain = runs.find((r) => r.where === 'steal.yml/plain')?.text ?? '';
    expect(plain).toContain('[][][]');
    for (const value of secretValues(settings))
      expect(runs.map((r) => r.text).join('\n')).not.toContain(value);
    // Only an operator's self-hosted runner would take it: why that mode is for private or Enterprise repositories.
    const exposed = await runEverything(own, event, {
      ...settings,
      selfHosted: [['self-hosted', 'linux', 'boinc']],
    });
    expect(exposed.find((r) => r.where === 'steal.yml/server')?.refused).toBeUndefined();
  }, 120_000);

  it("dispatches a workflow it edited on its branch: GitHub runs the branch's version, whose environment refuses the branch", async () => {
    const settings = documentedSettings();
    const propose = readFileSync(join(WORKFLOW_DIR, 'propose.yml'), 'utf8')
      .replace("    if: github.ref == 'refs/heads/main'\n", '')
      .replace('run: node bin/axiom.js propose', 'run: echo "$ANTHROPIC_API_KEY"; node bin/axiom.js propose');
    const branch = push(own, 'evil-propose', { '.github/workflows/propose.yml': propose });
    const event = dispatchEvent('propose.yml', branch.sha, { count: '1', host: '' }, 'evil-propose');
    const [workflow] = (await workflowsAt(own, event.sha)).filter((w) => w.file === 'propose.yml');
    const run = await runJob(workflow as Workflow, 'propose', { event, repo: own, settings });
    expect(run.refused).toBe(
      'Branch "evil-propose" is not allowed to deploy to propose due to environment protection rules.',
    );
    expect(run.steps).toEqual([]);
  });

  it('opens a pull request that edits the workflows to read secrets: its run, from the merge commit, reads none', async () => {
    const settings = documentedSettings();
    const check = readFileSync(join(WORKFLOW_DIR, 'check.yml'), 'utf8').replace(
      '    timeout-minutes: 10\n',
      '    timeout-minutes: 10\n    environment: propose\n',
    );
    const deploy = readFileSync(join(WORKFLOW_DIR, 'deploy.yml'), 'utf8')
      .replace('on:\n  push:', 'on:\n  pull_request:\n  push:')
      .replace("    if: github.ref == 'refs/heads/main' && vars.AXIOM_SELF_HOSTED != 'true'\n", '');
    for (const fork of [undefined, `mallory/${REPO}`]) {
      const event = openPullRequest(own, {
        number: fork ? 11 : 10,
        branch: 'workflow-edit',
        files: {
          '.github/workflows/check.yml': check,
          '.github/workflows/deploy.yml': deploy,
          '.github/workflows/steal.yml': STEAL,
        },
        ...(fork ? { fork } : {}),
      });
      const runs = await runEverything(own, event, settings);
      const merge = `refs/pull/${fork ? 11 : 10}/merge`;
      expect(Object.fromEntries(runs.map((r) => [r.where, r.refused ?? 'ran']))).toMatchObject({
        'check.yml/check': `Branch "${merge}" is not allowed to deploy to propose due to environment protection rules.`,
        'deploy.yml/notify': `Branch "${merge}" is not allowed to deploy to agent due to environment protection rules.`,
        'steal.yml/steal': `Branch "${merge}" is not allowed to deploy to agent due to environment protection rules.`,
        'steal.yml/plain': 'ran',
        'steal.yml/server': expect.stringMatching(/^Waiting for a runner/),
      });
      for (const value of secretValues(settings))
        expect(runs.map((r) => r.text).join('\n')).not.toContain(value);
    }
  }, 300_000);

  it('names a branch, a pull request and a commit after a shell command: no workflow pastes them into a script, for any event that carries them', async () => {
    const settings = documentedSettings();
    const events = [
      openPullRequest(own, { number: 12, branch: INJECTED, files: { 'README.md': 'x\n' } }),
      openPullRequest(own, {
        number: 13,
        branch: INJECTED,
        files: { 'README.md': 'y\n' },
        fork: `mallory/${REPO}`,
      }),
      push(own, INJECTED, { 'README.md': 'z\n' }),
      ...workflows
        .filter((w) => w.events.workflow_dispatch)
        .map((w) => dispatchEvent(w.file, own.main, { count: '1', host: '', version: '101' }, INJECTED)),
    ].map(withInjectedText);
    let seen = 0;
    for (const event of events)
      for (const workflow of workflows)
        for (const decision of decideJobs(workflow, event, { vars: settings.vars }).filter((d) => d.runs))
          for (const step of jobOf(workflow, decision.job).steps) {
            const contexts = {
              github: githubContext(event),
              vars: settings.vars,
              secrets: {},
              inputs: (event.payload as { inputs?: Record<string, unknown> }).inputs ?? {},
              matrix: decision.matrix,
            };
            const script = 'run' in step ? resolve(step.run as never, contexts) : undefined;
            expect({ where: `${workflow.file}/${decision.job}`, script }).not.toEqual({
              where: `${workflow.file}/${decision.job}`,
              script: expect.stringContaining(MARKER),
            });
            seen += 1;
          }
    // The pull request events reach check and ci, the dispatches app, deploy, propose's guard and site.
    expect(seen).toBeGreaterThan(20);
    expect(existsSync(MARKER)).toBe(false);
  });
});

/** The event with every text a writer chooses (pull request title and body, commit messages) a shell command. */
function withInjectedText(event: GitHubEvent): GitHubEvent {
  const payload = structuredClone(event.payload) as {
    pull_request?: Record<string, unknown>;
    head_commit?: Record<string, unknown>;
    commits?: Record<string, unknown>[];
  };
  if (payload.pull_request) Object.assign(payload.pull_request, { title: INJECTED, body: INJECTED });
  if (event.name === 'push') {
    payload.head_commit = { id: event.sha, message: INJECTED, author: { name: INJECTED } };
    for (const commit of payload.commits ?? []) commit.message = INJECTED;
  }
  return { ...event, payload };
}

describe("the harness's npm ci is the tree npm ci would leave", () => {
  const probe = (install: string) =>
    loadWorkflow(
      'probe.yml',
      `on: push\njobs:\n  t:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: actions/checkout@v7\n      - run: ${install}\n      - continue-on-error: true\n        run: node -e "new (require('better-sqlite3'))(':memory:'); console.log('sqlite opens')"\n      - continue-on-error: true\n        run: test -f dist/cli/main.js\n`,
    );

  it('with --ignore-scripts: no install script ran (better-sqlite3 has no binding) and nothing was built', async () => {
    const run = await runJob(await probe('npm ci --ignore-scripts'), 't', {
      event: pushOf(['README.md'], repo.main),
      repo,
    });
    expect(run.steps[1]?.note).toMatch(
      /^npm ci: this tree's installed packages .*, 1 path install scripts left hidden$/,
    );
    expect(run.steps[2]?.outcome).toBe('failure');
    expect(run.steps[2]?.output).toContain('Could not locate the bindings file');
    expect(run.steps[3]?.outcome).toBe('failure');
  });

  it("without it: the packages' and the root's install scripts ran, so prepare built dist/", async () => {
    const run = await runJob(await probe('npm ci'), 't', { event: pushOf(['README.md'], repo.main), repo });
    expect(failure(run)).toBeUndefined();
    expect(run.steps[1]?.note).toContain('then npm run prepare');
    expect(run.steps[2]?.output).toContain('sqlite opens');
    expect(run.steps[3]?.outcome).toBe('success');
  }, 120_000);

  it('runs the real npm ci for a lockfile, a package.json or a flag it cannot vouch for', () => {
    const dir = mkdtempSync(join(tmpdir(), 'axiom-npm-ci-'));
    try {
      for (const file of ['package.json', 'package-lock.json'])
        copyFileSync(join(REPO_ROOT, file), join(dir, file));
      expect('reason' in installedTree(dir, ['--no-audit', '--ignore-scripts'])).toBe(false);
      expect(installedTree(dir, ['--legacy-peer-deps'])).toEqual({
        reason: 'npm ci --legacy-peer-deps is not modelled',
      });
      writeFileSync(
        join(dir, 'package-lock.json'),
        `${readFileSync(join(dir, 'package-lock.json'), 'utf8')}\n`,
      );
      expect(installedTree(dir, [])).toEqual({ reason: "the clone's package-lock.json is not this tree's" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
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

  it('asks for the reference BLAS by name beside OpenBLAS, so that numpy does not get OpenBLAS alone', () => {
    const packages = printed('ID=debian\nVERSION_ID="12"\n');
    expect(packages).toContain('libopenblas0-pthread');
    for (const reference of ['libblas3', 'liblapack3']) {
      expect(packages).toContain(reference);
      expect(packages.indexOf(reference)).toBeLessThan(packages.indexOf('libopenblas0-pthread'));
    }
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
    // The required check is GitHub Actions' own: no other App's "check" satisfies it.
    for (const body of [solo, team])
      expect(
        body.rules.find((r: { type: string }) => r.type === 'required_status_checks').parameters
          .required_status_checks,
      ).toEqual([{ context: 'check', integration_id: GITHUB_ACTIONS_APP.id }]);
    for (const body of [solo, team])
      expect(body.rules.map((r: { type: string }) => r.type)).toEqual(
        expect.arrayContaining(['non_fast_forward', 'required_status_checks']),
      );
  });
});
