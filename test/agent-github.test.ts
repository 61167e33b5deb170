import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ForgeError } from '../src/errors.js';
import { AppTokenSource } from '../src/forge/app-token.js';
import { GitHubCheckRuns } from '../src/forge/check-runs.js';
import { AGENT_CHECK_NAME } from '../src/forge/reports.js';
import { createTestProject, type TestProject } from './helpers/boinc-project.js';
import { git, type Lab, makeLab } from './helpers/git.js';
import { GITHUB_ACTIONS_APP, type Permissions } from './helpers/github-apps.js';
import { GitHubStandIn } from './helpers/github-standin.js';
import { manifestYaml, OK_SCRIPT, REPO_ROOT, runCli, runProcess } from './helpers/repo.js';

// The agent's side of GitHub (its App's installation tokens, its check run) and the deploy workflow's
// summary of it (scripts/agent/await-report.mjs), against the GitHub stand-in.

const OWNER = 'axiom-lab';
const REPO = 'research';
const APP = { id: 424_242, slug: 'axiom-lab-agent', clientId: 'Iv23liAxiomAgent', installationId: 77 };
const GRANTED: Permissions = {
  contents: 'write',
  pull_requests: 'write',
  issues: 'write',
  checks: 'write',
  metadata: 'read',
};
const ASKED = { contents: 'write', pull_requests: 'write', issues: 'write', checks: 'write' } as const;
const pair = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
const KEYS = pair();
const OTHER_KEYS = pair();

const INSTALLATION = 'GET /repos/{owner}/{repo}/installation' as const;
const MINT = 'POST /app/installations/{installation_id}/access_tokens' as const;
const LIST = 'GET /repos/{owner}/{repo}/commits/{ref}/check-runs' as const;
const CREATE = 'POST /repos/{owner}/{repo}/check-runs' as const;
const UPDATE = 'PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}' as const;
const COMMIT = 'GET /repos/{owner}/{repo}/commits/{ref}' as const;

let lab: Lab;
let github: GitHubStandIn;
let head: string;

beforeEach(async () => {
  lab = makeLab({
    'manifests/mean_test.yaml': manifestYaml('mean_test'),
    'experiments/mean_test.py': OK_SCRIPT,
    'axiom.yaml': readFileSync(join(REPO_ROOT, 'axiom.yaml'), 'utf8'),
    'fleet.yaml': readFileSync(join(REPO_ROOT, 'fleet.yaml'), 'utf8'),
  });
  head = git(lab.clone, 'rev-parse', 'HEAD');
  github = await GitHubStandIn.start({ owner: OWNER, repo: REPO, origin: lab.origin, token: 'ghs_unused' });
});
afterEach(async () => {
  await github.close();
});

function install(changes: { repositories?: string[]; permissions?: Permissions } = {}) {
  github.installApp({
    ...APP,
    publicKey: KEYS.publicKey,
    repositories: changes.repositories ?? [REPO],
    permissions: changes.permissions ?? GRANTED,
  });
}

function tokens(options: { key?: string; now?: () => number; appId?: string } = {}): AppTokenSource {
  return new AppTokenSource({
    appId: options.appId ?? APP.clientId,
    privateKey: options.key ?? KEYS.privateKey,
    repository: `${OWNER}/${REPO}`,
    apiUrl: github.url,
    permissions: ASKED,
    ...(options.now ? { now: options.now } : {}),
  });
}

/** scripts/agent/await-report.mjs as the deploy workflow runs it, on the lab's head; with its job summary. */
function runAwaitReport(scratch: string, env: Record<string, string>) {
  const summary = join(scratch, 'summary.md');
  return runProcess('node', [join(REPO_ROOT, 'scripts/agent/await-report.mjs')], {
    cwd: scratch,
    env: {
      PATH: process.env.PATH,
      GITHUB_API_URL: github.url,
      GITHUB_REPOSITORY: `${OWNER}/${REPO}`,
      GITHUB_SHA: head,
      GITHUB_STEP_SUMMARY: summary,
      AXIOM_AGENT_APP_ID: String(APP.id),
      ...env,
    },
  }).then((run) => ({ ...run, summary: readFileSync(summary, { encoding: 'utf8', flag: 'a+' }) }));
}

async function refusal(source: AppTokenSource): Promise<ForgeError> {
  const error = await source.token().catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ForgeError);
  return error as ForgeError;
}

describe("the agent's App tokens", () => {
  it('finds the installation with a JWT, mints a token limited to the repository, and reuses it while it is fresh', async () => {
    install();
    let now = Date.now();
    github.clock = () => now;
    github.expect(INSTALLATION).expect(MINT);
    const source = tokens({ now: () => now });
    const token = await source.token();
    expect(token).toMatch(/^ghs_/);
    expect(await source.token()).toBe(token);
    expect(await source.appId()).toBe(APP.id);
    github.verify();
    // 50 minutes later the token has 10 left: a new one, for the installation found before.
    now += 50 * 60_000;
    github.expect(MINT);
    const renewed = await source.token();
    expect(renewed).not.toBe(token);
    github.verify();
    // An hour after it was minted, GitHub no longer takes the first token.
    now += 15 * 60_000;
    const stale = await fetch(`${github.url}/repos/${OWNER}/${REPO}/commits/main`, {
      headers: { authorization: `token ${token}`, accept: 'application/vnd.github+json' },
    });
    expect(stale.status).toBe(401);
    expect(github.refusals).toEqual(['GET /repos/{owner}/{repo}/commits/{ref}: 401 Bad credentials']);
  });

  it("refuses another App's key, a clock behind or ahead of GitHub's, an App not installed here, a permission not granted", async () => {
    install();
    const cases: [AppTokenSource, number, string][] = [
      [
        tokens({ key: OTHER_KEYS.privateKey }),
        401,
        "A JSON web token could not be decoded; the App's ID and private key do not belong together, or this machine's clock is off",
      ],
      [tokens({ appId: '999' }), 401, 'A JSON web token could not be decoded'],
      [
        tokens({ now: () => Date.now() - 15 * 60_000 }),
        401,
        "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
      ],
      [
        tokens({ now: () => Date.now() + 5 * 60_000 }),
        401,
        "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
      ],
    ];
    for (const [source, status, message] of cases) {
      const error = await refusal(source);
      expect({ status: error.status, message: error.message }).toEqual({
        status,
        message: expect.stringContaining(message),
      });
    }
    expect(github.refusals).toHaveLength(4);
    github.verify();
  });

  it('says when the App is not installed on the repository, or lacks a permission the agent asks for', async () => {
    install({ repositories: ['elsewhere'] });
    github.expect(INSTALLATION);
    expect((await refusal(tokens())).message).toContain(
      `(HTTP 404): Not Found; the App is not installed on ${OWNER}/${REPO}`,
    );
    github.verify();
  });

  it('a permission not granted is 422; an installation that is not its own is 404', async () => {
    github.installApp({
      ...APP,
      publicKey: KEYS.publicKey,
      repositories: [REPO],
      permissions: { contents: 'write', pull_requests: 'write', issues: 'write', metadata: 'read' },
    });
    github.expect(INSTALLATION).expect(MINT);
    const source = tokens();
    const error = await refusal(source);
    expect(error.status).toBe(422);
    expect(error.message).toContain(
      'The permissions requested are not granted to this installation.; the installation was not granted every permission asked for (contents: write, pull_requests: write, issues: write, checks: write)',
    );
    github.expect(MINT);
    const other = await fetch(`${github.url}/app/installations/78/access_tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${source.jwt()}`, accept: 'application/vnd.github+json' },
    });
    expect(other.status).toBe(404);
    github.verify();
  });
});

describe('the check run "axiom agent"', () => {
  let source: AppTokenSource;
  let reporter: GitHubCheckRuns;
  beforeEach(async () => {
    install();
    github.expect(INSTALLATION).expect(MINT);
    source = tokens();
    await source.token();
    reporter = new GitHubCheckRuns({
      repository: `${OWNER}/${REPO}`,
      apiUrl: github.url,
      token: () => source.token(),
      appId: () => source.appId(),
    });
  });

  it('is created once on the commit and updated in place, with a summary cut to what GitHub takes', async () => {
    github.expect(LIST).expect(CREATE).expect(LIST).expect(UPDATE).expect(LIST);
    await reporter.report(head, { status: 'in_progress', title: 'working', summary: '' });
    await reporter.report(head, {
      status: 'completed',
      conclusion: 'success',
      title: 'deploy: 3 created',
      summary: 'é'.repeat(70_000),
    });
    expect(await reporter.latest(head)).toMatchObject({ status: 'completed', conclusion: 'success' });
    github.verify();
    expect(github.checkRuns.runs).toHaveLength(1);
    const [run] = github.checkRuns.runs;
    expect(run).toMatchObject({ name: AGENT_CHECK_NAME, headSha: head, app: { id: APP.id } });
    expect([...(run?.output?.summary ?? '')].length).toBeLessThanOrEqual(65_535);
  });

  it("never takes another App's run of the same name for its own (a workflow's GITHUB_TOKEN can make one)", async () => {
    const forger = github.issueToken({ checks: 'write' }, GITHUB_ACTIONS_APP);
    github.expect(CREATE);
    const forged = await fetch(`${github.url}/repos/${OWNER}/${REPO}/check-runs`, {
      method: 'POST',
      headers: { authorization: `token ${forger}`, accept: 'application/vnd.github+json' },
      body: JSON.stringify({
        name: AGENT_CHECK_NAME,
        head_sha: head,
        conclusion: 'success',
        output: { title: 'all good', summary: 'nothing to see' },
      }),
    });
    expect(forged.status).toBe(201);
    github.expect(LIST).expect(LIST).expect(CREATE);
    expect(await reporter.latest(head)).toBeUndefined();
    await reporter.report(head, {
      status: 'completed',
      conclusion: 'failure',
      title: 'deploy failed',
      summary: '',
    });
    github.verify();
    expect(github.checkRuns.runs.map((r) => [r.app.slug, r.conclusion])).toEqual([
      ['github-actions', 'success'],
      ['axiom-lab-agent', 'failure'],
    ]);
  });

  it('GitHub refuses a run on a commit it does not have, and a completed run without a conclusion', async () => {
    github.expect(LIST);
    const missing = 'f'.repeat(40);
    const error = await reporter
      .report(missing, { status: 'in_progress', title: 'x', summary: '' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ForgeError);
    expect((error as ForgeError).message).toContain(`(HTTP 422): No commit found for SHA: ${missing}`);
    const create = async (fields: Record<string, unknown>) =>
      fetch(`${github.url}/repos/${OWNER}/${REPO}/check-runs`, {
        method: 'POST',
        headers: { authorization: `token ${await source.token()}`, accept: 'application/vnd.github+json' },
        body: JSON.stringify({ name: AGENT_CHECK_NAME, ...fields }),
      });
    github.expect(CREATE).expect(CREATE);
    const unknown = await create({ head_sha: missing, status: 'in_progress' });
    expect({ status: unknown.status, body: await unknown.json() }).toMatchObject({
      status: 422,
      body: { message: `No commit found for SHA: ${missing}` },
    });
    expect((await create({ head_sha: head, status: 'completed' })).status).toBe(422);
    github.verify();
    expect(github.checkRuns.runs).toEqual([]);
  });
});

describe("scripts/agent/await-report.mjs (the deploy workflow's summary of the agent's report)", () => {
  let scratch: string;
  beforeEach(() => {
    install();
    scratch = mkdtempSync(join(tmpdir(), 'axiom-await-'));
  });
  afterEach(() => rmSync(scratch, { recursive: true, force: true }));

  /** The job's GITHUB_TOKEN: the notify job's permissions, as GitHub gives them. */
  const jobToken = (permissions: Permissions = { contents: 'read', checks: 'read' }) =>
    github.issueToken(permissions, GITHUB_ACTIONS_APP);

  const awaitReport = (env: Record<string, string>) =>
    runAwaitReport(scratch, {
      GITHUB_TOKEN: jobToken(),
      AXIOM_AGENT_WAIT: '20',
      AXIOM_AGENT_POLL: '1',
      ...env,
    });

  async function post(app: 'agent' | 'forger', sha: string, fields: Record<string, unknown>) {
    const token =
      app === 'agent' ? await tokens().token() : github.issueToken({ checks: 'write' }, GITHUB_ACTIONS_APP);
    const response = await fetch(`${github.url}/repos/${OWNER}/${REPO}/check-runs`, {
      method: 'POST',
      headers: { authorization: `token ${token}`, accept: 'application/vnd.github+json' },
      body: JSON.stringify({ name: AGENT_CHECK_NAME, head_sha: sha, ...fields }),
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { id: number }).id;
  }

  it("waits for the agent's report on the commit and shows it; a forged run of the same name does not count", async () => {
    github.allow(INSTALLATION, MINT, CREATE, UPDATE, LIST, COMMIT);
    await post('forger', head, { conclusion: 'success', output: { title: 'forged', summary: 'all good' } });
    const id = await post('agent', head, { status: 'in_progress' });
    const waiting = awaitReport({});
    setTimeout(() => {
      void tokens()
        .token()
        .then((token) =>
          fetch(`${github.url}/repos/${OWNER}/${REPO}/check-runs/${id}`, {
            method: 'PATCH',
            headers: { authorization: `token ${token}`, accept: 'application/vnd.github+json' },
            body: JSON.stringify({
              conclusion: 'failure',
              output: { title: 'deploy failed', summary: '### deploy\n\nfailed: create_work is missing' },
            }),
          }),
        );
    }, 1500);
    const run = await waiting;
    expect(run.status).toBe(1);
    expect(run.summary).toContain('## The agent on the BOINC server: failure');
    expect(run.summary).toContain('**deploy failed**');
    expect(run.summary).toContain('failed: create_work is missing');
    expect(run.summary).not.toContain('forged');
    github.verify();
  });

  it("shows the report on main's tip when main moved past the run's commit, and fails when nothing came", async () => {
    github.allow(INSTALLATION, MINT, CREATE, LIST, COMMIT);
    const tip = (() => {
      writeFileSync(join(lab.clone, 'README.md'), 'newer\n');
      git(lab.clone, 'add', 'README.md');
      git(lab.clone, 'commit', '--quiet', '-m', 'newer');
      git(lab.clone, 'push', '--quiet', 'origin', 'main');
      return git(lab.clone, 'rev-parse', 'HEAD');
    })();
    // Anyone who can push can make a tag named main; git resolves a bare "main" to the tag first.
    git(lab.clone, 'push', '--quiet', 'origin', `${head}:refs/tags/main`);
    const nothing = await awaitReport({ AXIOM_AGENT_WAIT: '1' });
    expect(nothing.status).toBe(1);
    expect(nothing.summary).toContain('## The agent on the BOINC server has not reported');
    await post('agent', tip, {
      conclusion: 'success',
      output: { title: 'deploy: 0 created', summary: 'ok' },
    });
    const moved = await awaitReport({});
    expect(moved.status).toBe(0);
    expect(moved.summary).toContain(`main has moved on to ${tip.slice(0, 12)}`);
    github.verify();
  });

  it('refuses to run without the agent App id, and says so when its token cannot read check runs', async () => {
    github.allow(LIST);
    const unset = await awaitReport({ AXIOM_AGENT_APP_ID: '' });
    expect(unset.status).toBe(1);
    expect(unset.stderr).toContain("AXIOM_AGENT_APP_ID must be the agent's GitHub App's numeric App ID");
    const blind = await awaitReport({ GITHUB_TOKEN: jobToken({ contents: 'read' }) });
    expect(blind.status).toBe(1);
    expect(blind.stderr).toContain("cannot read the agent's report: GET /repos/axiom-lab/research/commits/");
    expect(blind.stderr).toContain('HTTP 403');
    github.verify();
  });
});

describe('a pass of the agent on GitHub', () => {
  let project: TestProject;
  let scratch: string;
  beforeAll(async () => {
    project = await createTestProject();
  });
  afterAll(async () => {
    await project.cleanup();
  });
  beforeEach(() => {
    scratch = mkdtempSync(join(tmpdir(), 'axiom-agent-gh-'));
  });
  afterEach(() => rmSync(scratch, { recursive: true, force: true }));

  it('reports as its App on the commit it acted on, and the deploy workflow shows that report', async () => {
    install();
    const keyFile = join(scratch, 'agent-app.pem');
    writeFileSync(keyFile, KEYS.privateKey, { mode: 0o600 });
    mkdirSync(join(scratch, 'publish'));
    github.expect(INSTALLATION).expect(MINT).expect(LIST).expect(CREATE).expect(LIST).expect(UPDATE);
    const pass = await runCli(['agent', '--once', '--json'], {
      cwd: scratch,
      env: {
        PATH: process.env.PATH,
        HOME: scratch,
        AXIOM_FORGE: 'github',
        GITHUB_REPOSITORY: `${OWNER}/${REPO}`,
        GITHUB_API_URL: github.url,
        AXIOM_APP_ID: APP.clientId,
        AXIOM_APP_KEY_FILE: keyFile,
        // The origin is a local repository here; on GitHub it is GITHUB_SERVER_URL/GITHUB_REPOSITORY.
        AXIOM_AGENT_REMOTE: lab.origin,
        AXIOM_AGENT_DIR: join(scratch, 'agent'),
        AXIOM_DB_URL: project.db.url,
        AXIOM_BOINC_PROJECT_DIR: project.projectDir,
        AXIOM_PUBLISH_DIR: join(scratch, 'publish'),
        AXIOM_SCRIPT_BASE_URL: 'https://boinc.example.org/axiom/',
      },
    });
    expect(pass.stderr).toBe('');
    expect(JSON.parse(pass.stdout)).toMatchObject({
      commit: head,
      action: 'reconciled',
      conclusion: 'success',
    });
    github.verify();
    expect(github.checkRuns.runs).toEqual([
      expect.objectContaining({
        headSha: head,
        status: 'completed',
        conclusion: 'success',
        app: expect.objectContaining({ id: APP.id }),
      }),
    ]);
    github.allow(LIST);
    const shown = await runAwaitReport(scratch, {
      GITHUB_TOKEN: github.issueToken({ contents: 'read', checks: 'read' }, GITHUB_ACTIONS_APP),
    });
    expect(shown.status).toBe(0);
    expect(shown.summary).toContain('## The agent on the BOINC server: success');
    expect(shown.summary).toContain('deploy: 3 created, 0 failed');
  });
});
