import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll } from 'vitest';
import { git } from './git.js';
import { REPO_ROOT } from './repo.js';
import {
  type Contexts,
  evaluate,
  type GitHubEvent,
  githubContext,
  globToRegExp,
  jobOf,
  matrixOf,
  OWNER,
  pullRequestEvent,
  pushEvent,
  REPO,
  resolve,
  type Status,
  type Step,
  scheduleEvent,
  stepInputs,
  truthy,
  type Workflow,
} from './workflow-harness.js';

/**
 * Runs a workflow job's steps as a GitHub-hosted runner would, far enough to prove its commands
 * start: `run:` steps in bash (`bash --noprofile --norc -eo pipefail`, GitHub's default shell) in a
 * fresh clone of a repository made from this working tree, with the environment GitHub sets; `uses:`
 * steps replaced by what the action leaves behind (a checkout at the event's commit with its
 * fetch-depth, Node on PATH, a Python whose pip may install, artifacts in a shared folder, an App
 * token). An action the harness does not know fails the step: nothing passes by being unknown.
 */

const scratch: string[] = [];
afterAll(async () => {
  await Promise.all(scratch.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}, 300_000);

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

// ---- the repository on "GitHub" ----

export interface Repository {
  /** A bare repository: what actions/checkout fetches from. */
  origin: string;
  /** A working clone on main, for making commits. */
  clone: string;
  main: string;
}

/** The files of this working tree (tracked and untracked, not ignored), committed on main of a fresh origin. */
export function makeRepository(): Repository {
  const root = tempDir('axiom-gh-');
  const origin = join(root, 'origin.git');
  const clone = join(root, 'clone');
  git(root, 'init', '--quiet', '--bare', '--initial-branch=main', origin);
  // actions/checkout fetches a commit by id; GitHub serves any commit of the repository.
  git(origin, 'config', 'uploadpack.allowAnySHA1InWant', 'true');
  git(root, 'init', '--quiet', '--initial-branch=main', clone);
  const files = execFileSync('git', ['ls-files', '-z', '-co', '--exclude-standard'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((f) => f !== '' && existsSync(join(REPO_ROOT, f)));
  for (const file of files) {
    mkdirSync(dirname(join(clone, file)), { recursive: true });
    cpSync(join(REPO_ROOT, file), join(clone, file));
  }
  git(clone, 'add', '--all');
  git(clone, 'commit', '--quiet', '-m', 'main as it is');
  git(clone, 'remote', 'add', 'origin', origin);
  git(clone, 'push', '--quiet', 'origin', 'main');
  return { origin, clone, main: git(clone, 'rev-parse', 'HEAD') };
}

function writeFiles(dir: string, files: Record<string, string | null>): void {
  for (const [path, text] of Object.entries(files)) {
    const target = join(dir, path);
    if (text === null) rmSync(target, { force: true });
    else {
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, text);
    }
  }
}

/** A push to a branch that changes `files`; returns its event. */
export function push(repo: Repository, branch: string, files: Record<string, string | null>): GitHubEvent {
  const before = git(repo.clone, 'rev-parse', `refs/heads/main`);
  git(repo.clone, 'checkout', '--quiet', '-B', branch, before);
  writeFiles(repo.clone, files);
  git(repo.clone, 'add', '--all');
  git(repo.clone, 'commit', '--quiet', '-m', `change ${Object.keys(files).join(', ')}`);
  const sha = git(repo.clone, 'rev-parse', 'HEAD');
  git(repo.clone, 'push', '--quiet', '--force', 'origin', `${branch}`);
  if (branch === 'main') repo.main = sha;
  git(repo.clone, 'checkout', '--quiet', 'main');
  return pushEvent(branch, Object.keys(files), sha, before);
}

/**
 * A pull request from `branch` (of this repository, or of a fork) into main: its head as
 * refs/pull/N/head and GitHub's test merge commit as refs/pull/N/merge.
 */
export function openPullRequest(
  repo: Repository,
  options: { number: number; branch: string; files: Record<string, string | null>; fork?: string },
): GitHubEvent {
  git(repo.clone, 'checkout', '--quiet', '-B', `pr-${options.number}`, repo.main);
  writeFiles(repo.clone, options.files);
  git(repo.clone, 'add', '--all');
  git(repo.clone, 'commit', '--quiet', '-m', `pull request ${options.number}`);
  const headSha = git(repo.clone, 'rev-parse', 'HEAD');
  git(repo.clone, 'checkout', '--quiet', '--detach', repo.main);
  git(repo.clone, 'merge', '--quiet', '--no-ff', '-m', `Merge ${headSha} into ${repo.main}`, headSha);
  const mergeSha = git(repo.clone, 'rev-parse', 'HEAD');
  git(repo.clone, 'push', '--quiet', 'origin', `${headSha}:refs/pull/${options.number}/head`);
  git(repo.clone, 'push', '--quiet', 'origin', `${mergeSha}:refs/pull/${options.number}/merge`);
  if (!options.fork)
    git(repo.clone, 'push', '--quiet', '--force', 'origin', `${headSha}:refs/heads/${options.branch}`);
  git(repo.clone, 'checkout', '--quiet', 'main');
  return pullRequestEvent({
    number: options.number,
    head: options.branch,
    headSha,
    baseSha: repo.main,
    mergeSha,
    changed: Object.keys(options.files),
    ...(options.fork ? { fork: options.fork } : {}),
  });
}

export function scheduled(repo: Repository, cron: string): GitHubEvent {
  return scheduleEvent(cron, repo.main);
}

// ---- running a job ----

export interface StepRun {
  name: string;
  kind: 'run' | 'uses';
  outcome: 'success' | 'failure' | 'skipped';
  conclusion: 'success' | 'failure' | 'skipped';
  exitCode?: number;
  output: string;
  /** Why the harness did not run it (`skip`), or what it did in place of an action. */
  note?: string;
  command?: string;
  env?: Record<string, string>;
}

export interface JobRun {
  steps: StepRun[];
  summary: string;
  workspace: string;
  failed: boolean;
  /** Commands run through sudo (recorded, never run: the runner's VM is not this machine). */
  sudo: string[];
}

export interface RunOptions {
  event: GitHubEvent;
  repo: Repository;
  vars?: Record<string, string>;
  secrets?: Record<string, string>;
  matrix?: Record<string, unknown>;
  /** Where upload-artifact leaves artifacts and download-artifact finds them (share it between jobs). */
  artifacts?: string;
  /** Extra environment for every step (e.g. GITHUB_API_URL of a stand-in). */
  env?: Record<string, string>;
  /** Steps not to run, with the reason (e.g. the test suite itself). */
  skip?: (step: { name: string; run?: string; uses?: string }) => string | undefined;
  stepTimeoutMs?: number;
}

const STUBS = `#!/bin/sh
# sudo on a GitHub-hosted runner provisions its throwaway VM; here it is recorded, not run.
printf '%s\\n' "$*" >> "$AXIOM_HARNESS_SUDO_LOG"
exit 0
`;

function prepareRunner(): { root: string; bin: string; temp: string; home: string; sudoLog: string } {
  const root = tempDir('axiom-runner-');
  const bin = join(root, 'harness-bin');
  const temp = join(root, '_temp');
  const home = join(root, 'home');
  for (const dir of [bin, temp, home]) mkdirSync(dir, { recursive: true });
  writeFileSync(join(bin, 'sudo'), STUBS);
  // The image's python and python3 are the system Python (Ubuntu's python-is-python3), externally managed.
  for (const name of ['python', 'python3'])
    writeFileSync(join(bin, name), '#!/bin/sh\nexec /usr/bin/python3 "$@"\n');
  for (const name of ['sudo', 'python', 'python3']) chmodSync(join(bin, name), 0o755);
  const sudoLog = join(root, 'sudo.log');
  writeFileSync(sudoLog, '');
  return { root, bin, temp, home, sudoLog };
}

interface State {
  options: RunOptions;
  workspace: string;
  runner: ReturnType<typeof prepareRunner>;
  path: string[];
  env: Record<string, string>;
  outputs: Record<string, Record<string, string>>;
  steps: Contexts['steps'];
  failed: boolean;
  artifacts: string;
}

type ActionHandler = (state: State, inputs: Record<string, unknown>, id: string) => Promise<string>;

const ACTIONS: Record<string, ActionHandler> = {
  'actions/checkout': checkout,
  'actions/setup-node': async (_s, inputs) =>
    `Node ${process.version} on PATH (asked for ${inputs['node-version']})`,
  'actions/setup-python': setupPython,
  'actions/upload-artifact': uploadArtifact,
  'actions/download-artifact': downloadArtifact,
  'actions/create-github-app-token': async (state, inputs, id) => {
    if (!inputs['private-key']) throw new Error('Input required and not supplied: private-key');
    state.outputs[id] = { token: 'ghs_apptoken', 'app-slug': 'axiom-lab' };
    return 'an installation token for the App';
  },
  'actions/upload-pages-artifact': async (state, inputs) => {
    const path = String(inputs.path ?? '_site');
    if (!existsSync(path)) throw new Error(`tar: ${path}: Cannot open: No such file or directory`);
    cpSync(path, join(state.artifacts, 'github-pages'), { recursive: true });
    return `pages artifact from ${path}`;
  },
  'actions/deploy-pages': async (state, _inputs, id) => {
    if (!existsSync(join(state.artifacts, 'github-pages'))) throw new Error('No uploaded artifact was found');
    state.outputs[id] = { page_url: `https://${OWNER}.github.io/${REPO}/` };
    return 'deployed the pages artifact';
  },
};

/** actions/checkout: git init, fetch the one commit at the given depth, check it out detached. */
async function checkout(state: State, inputs: Record<string, unknown>): Promise<string> {
  const sha = String(inputs.ref || state.options.event.sha);
  const depth = Number(inputs['fetch-depth'] ?? 1);
  const ws = state.workspace;
  git(ws, 'init', '--quiet');
  git(ws, 'remote', 'add', 'origin', `file://${state.options.repo.origin}`);
  const deepen = depth > 0 ? [`--depth=${depth}`] : [];
  const ref = /^[0-9a-f]{40}$/.test(sha) ? sha : sha;
  git(ws, 'fetch', '--quiet', '--no-tags', ...deepen, 'origin', `+${ref}:refs/remotes/origin/checkout`);
  git(ws, 'checkout', '--quiet', '--force', '--detach', 'refs/remotes/origin/checkout');
  return `checked out ${git(ws, 'rev-parse', 'HEAD')} (fetch-depth ${depth})`;
}

/** actions/setup-python leaves a Python of its own on PATH, whose pip installs (no PEP 668 marker). */
async function setupPython(state: State): Promise<string> {
  const venv = join(state.runner.root, 'hostedtoolcache', 'Python');
  execFileSync('/usr/bin/python3', ['-m', 'venv', venv]);
  state.path.unshift(join(venv, 'bin'));
  return `Python at ${venv}/bin on PATH`;
}

async function uploadArtifact(state: State, inputs: Record<string, unknown>): Promise<string> {
  const name = String(inputs.name ?? 'artifact');
  const path = String(inputs.path);
  const source = path.startsWith('/') ? path : join(state.workspace, path);
  if (!existsSync(source)) {
    const policy = String(inputs['if-no-files-found'] ?? 'warn');
    if (policy === 'error') throw new Error(`No files were found with the provided path: ${path}`);
    return `no files at ${path} (${policy})`;
  }
  const target = join(state.artifacts, name);
  mkdirSync(target, { recursive: true });
  cpSync(source, join(target, source.split('/').pop() as string), { recursive: true });
  return `artifact ${name}`;
}

async function downloadArtifact(state: State, inputs: Record<string, unknown>): Promise<string> {
  const path = join(state.workspace, String(inputs.path ?? '.'));
  const names = inputs.name
    ? [String(inputs.name)]
    : readdirSync(state.artifacts).filter((n) => globToRegExp(String(inputs.pattern ?? '*')).test(n));
  if (names.length === 0 || names.some((n) => !existsSync(join(state.artifacts, n))))
    throw new Error(`Unable to download artifact(s): Artifact not found for name: ${names.join(', ')}`);
  for (const name of names)
    cpSync(join(state.artifacts, name), inputs['merge-multiple'] || inputs.name ? path : join(path, name), {
      recursive: true,
    });
  return `downloaded ${names.join(', ')}`;
}

/** `npm ci` done once per command line and sources; later identical runs get the same tree (hard links). */
const installs = new Map<string, { dir: string; entries: string[] }>();

function installKey(workspace: string, command: string): string {
  const tree = ['package-lock.json', 'package.json', 'src', 'tsconfig.json', 'tsconfig.build.json', 'bin']
    .map((p) => {
      try {
        return git(workspace, 'rev-parse', `HEAD:${p}`);
      } catch {
        return '-';
      }
    })
    .join(' ');
  return createHash('sha256').update(`${command}\n${tree}`).digest('hex');
}

async function runScript(
  state: State,
  script: string,
  env: Record<string, string>,
): Promise<{ code: number; output: string; note?: string }> {
  const install = /^\s*npm ci\b[^\n]*$/.test(script.trim())
    ? installKey(state.workspace, script.trim())
    : undefined;
  const cached = install ? installs.get(install) : undefined;
  if (cached) {
    for (const entry of cached.entries)
      await new Promise((done) =>
        spawn('cp', ['-al', join(cached.dir, entry), join(state.workspace, entry)]).on('close', done),
      );
    return {
      code: 0,
      output: '',
      note: 'npm ci: the tree an identical earlier run left (same command, lockfile and sources)',
    };
  }
  const before = new Set(readdirSync(state.workspace));
  const file = join(state.runner.temp, `step-${Date.now()}-${Math.random().toString(36).slice(2)}.sh`);
  writeFileSync(file, script);
  const result = await new Promise<{ code: number; output: string }>((done) => {
    const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', file], {
      cwd: state.workspace,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), state.options.stepTimeoutMs ?? 180_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code: code ?? 1, output });
    });
  });
  if (install && result.code === 0) {
    const dir = tempDir('axiom-npm-ci-');
    const entries = readdirSync(state.workspace).filter((e) => !before.has(e));
    for (const entry of entries)
      await new Promise((done) =>
        spawn('cp', ['-al', join(state.workspace, entry), join(dir, entry)]).on('close', done),
      );
    installs.set(install, { dir, entries });
  }
  return result;
}

function readKeyValues(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  const out: Record<string, string> = {};
  const lines = readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const end = lines.indexOf(heredoc[2] as string, i + 1);
      out[heredoc[1] as string] = lines.slice(i + 1, end).join('\n');
      i = end;
    } else if (line.includes('=')) out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
  }
  return out;
}

function hashFilesIn(workspace: string) {
  return (patterns: string[]) => {
    const files = execFileSync('git', ['ls-files', '-co', '-z'], { cwd: workspace, encoding: 'utf8' })
      .split('\0')
      .filter((f) => f !== '');
    const extra = patterns.filter((p) => !p.includes('*')).filter((p) => existsSync(join(workspace, p)));
    const matched = [
      ...new Set([...files.filter((f) => patterns.some((p) => globToRegExp(p).test(f))), ...extra]),
    ];
    if (matched.length === 0) return '';
    const hash = createHash('sha256');
    for (const f of matched.sort()) hash.update(readFileSync(join(workspace, f)));
    return hash.digest('hex');
  };
}

function defaultEnv(state: State, event: GitHubEvent): Record<string, string> {
  const eventPath = join(state.runner.temp, '_github_workflow', 'event.json');
  mkdirSync(dirname(eventPath), { recursive: true });
  writeFileSync(eventPath, JSON.stringify(event.payload));
  const files = ['step_summary', 'output', 'env', 'path'].map((n) =>
    join(state.runner.temp, `_runner_file_commands/${n}`),
  );
  mkdirSync(dirname(files[0] as string), { recursive: true });
  return {
    HOME: state.runner.home,
    LANG: 'C.UTF-8',
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_EVENT_NAME: event.name,
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_REF: event.ref,
    GITHUB_SHA: event.sha,
    GITHUB_REPOSITORY: `${OWNER}/${REPO}`,
    GITHUB_REPOSITORY_OWNER: OWNER,
    GITHUB_WORKSPACE: state.workspace,
    GITHUB_RUN_ID: '4242',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_ACTOR: event.actor,
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_API_URL: 'https://api.github.com',
    GITHUB_HEAD_REF: event.headRef ?? '',
    GITHUB_BASE_REF: event.baseRef ?? '',
    RUNNER_OS: 'Linux',
    RUNNER_TEMP: state.runner.temp,
    AXIOM_HARNESS_SUDO_LOG: state.runner.sudoLog,
    // setup-node's npm cache: the packages this machine already has, as a restored cache would hold them.
    npm_config_cache: join(homedir(), '.npm'),
    npm_config_prefer_offline: 'true',
  };
}

/** Runs one job of a workflow for an event; stops at the first failing step, as the runner does. */
export async function runJob(workflow: Workflow, jobId: string, options: RunOptions): Promise<JobRun> {
  const job = jobOf(workflow, jobId);
  const runner = prepareRunner();
  const workspace = join(runner.root, 'work', REPO, REPO);
  mkdirSync(workspace, { recursive: true });
  const state: State = {
    options,
    workspace,
    runner,
    path: [runner.bin, ...(process.env.PATH ?? '/usr/bin:/bin').split(':')],
    env: {},
    outputs: {},
    steps: {},
    failed: false,
    artifacts: options.artifacts ?? tempDir('axiom-artifacts-'),
  };
  const base = defaultEnv(state, options.event);
  const github = githubContext(options.event, { workspace });
  const matrix = options.matrix ?? matrixOf(job, { github })[0] ?? {};
  const runs: StepRun[] = [];
  for (const [index, step] of job.steps.entries())
    runs.push(
      await runStep(state, step, { github, matrix, base, job, inputs: stepInputs(workflow, jobId, index) }),
    );
  return {
    steps: runs,
    summary: readFileSyncOr(join(runner.temp, '_runner_file_commands/step_summary')),
    workspace,
    failed: state.failed,
    sudo: readFileSync(runner.sudoLog, 'utf8')
      .split('\n')
      .filter((l) => l !== ''),
  };
}

function readFileSyncOr(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

async function runStep(
  state: State,
  step: Step,
  scope: {
    inputs: ReturnType<typeof stepInputs>;
    github: Record<string, unknown>;
    matrix: Record<string, unknown>;
    base: Record<string, string>;
    job: ReturnType<typeof jobOf>;
  },
): Promise<StepRun> {
  const s = step as Step & {
    run?: { value?: string };
    uses?: { value: string };
    env?: Parameters<typeof resolve>[0];
    with?: unknown;
  };
  const name = String(s.name ? ((s.name as { value?: unknown }).value ?? s.id) : s.id);
  const contexts: Contexts = {
    github: scope.github,
    vars: state.options.vars ?? {},
    secrets: state.options.secrets ?? {},
    inputs: (state.options.event.payload as { inputs?: Record<string, unknown> }).inputs ?? {},
    matrix: scope.matrix,
    steps: state.steps,
    runner: { temp: state.runner.temp, os: 'Linux' },
    env: {
      ...(resolve(scope.job.env, { github: scope.github }) as Record<string, string> | undefined),
      ...state.env,
    },
  };
  const status: Status = { failed: state.failed, cancelled: false, hashFiles: hashFilesIn(state.workspace) };
  const kind = s.uses ? 'uses' : 'run';
  const condition = s.if ? truthy(evaluate(s.if.expression, contexts, status)) : !state.failed;
  if (!condition)
    return record(state, s.id, { name, kind, outcome: 'skipped', conclusion: 'skipped', output: '' });
  const stepEnv = (resolve(s.env, contexts, status) ?? {}) as Record<string, unknown>;
  const env: Record<string, string> = {
    ...scope.base,
    ...(contexts.env as Record<string, string>),
    ...Object.fromEntries(
      Object.entries(stepEnv).map(([k, v]) => [k, v === null || v === undefined ? '' : String(v)]),
    ),
    ...(state.options.env ?? {}),
    PATH: state.path.join(':'),
  };
  const continueOnError = s['continue-on-error'] === true;
  if (kind === 'uses') {
    const uses = (s.uses as { value: string }).value;
    const skipReason = state.options.skip?.({ name, uses });
    if (skipReason)
      return record(state, s.id, {
        name,
        kind,
        outcome: 'skipped',
        conclusion: 'skipped',
        output: '',
        note: skipReason,
      });
    const action = uses.split('@')[0] as string;
    const handler = ACTIONS[action];
    const inputs = (resolve(scope.inputs, contexts, status) ?? {}) as Record<string, unknown>;
    try {
      if (!handler) throw new Error(`the harness does not know ${uses}`);
      const note = await handler(state, inputs, s.id);
      return record(state, s.id, {
        name,
        kind,
        outcome: 'success',
        conclusion: 'success',
        output: '',
        note,
        command: uses,
      });
    } catch (error) {
      return fail(
        state,
        s.id,
        { name, kind, output: (error as Error).message, command: uses },
        continueOnError,
      );
    }
  }
  const script = String(resolve(s.run as Parameters<typeof resolve>[0], contexts, status) ?? '');
  const skipReason = state.options.skip?.({ name, run: script });
  if (skipReason)
    return record(state, s.id, {
      name,
      kind,
      outcome: 'skipped',
      conclusion: 'skipped',
      output: '',
      note: skipReason,
      command: script,
    });
  for (const file of ['output', 'env', 'path'])
    writeFileSync(join(state.runner.temp, `_runner_file_commands/${file}`), '');
  const commandFiles = {
    GITHUB_STEP_SUMMARY: join(state.runner.temp, '_runner_file_commands/step_summary'),
    GITHUB_OUTPUT: join(state.runner.temp, '_runner_file_commands/output'),
    GITHUB_ENV: join(state.runner.temp, '_runner_file_commands/env'),
    GITHUB_PATH: join(state.runner.temp, '_runner_file_commands/path'),
  };
  appendFileSync(commandFiles.GITHUB_STEP_SUMMARY, '');
  const result = await runScript(state, script, { ...env, ...commandFiles });
  state.outputs[s.id] = readKeyValues(commandFiles.GITHUB_OUTPUT);
  Object.assign(state.env, readKeyValues(commandFiles.GITHUB_ENV));
  state.path.unshift(
    ...readFileSyncOr(commandFiles.GITHUB_PATH)
      .split('\n')
      .filter((l) => l !== '')
      .reverse(),
  );
  const run = {
    name,
    kind,
    output: result.output,
    command: script,
    exitCode: result.code,
    env,
    ...(result.note ? { note: result.note } : {}),
  } as const;
  return result.code === 0
    ? record(state, s.id, { ...run, outcome: 'success', conclusion: 'success' })
    : fail(state, s.id, run, continueOnError);
}

function record(state: State, id: string, run: StepRun): StepRun {
  (state.steps as NonNullable<Contexts['steps']>)[id] = {
    outcome: run.outcome,
    conclusion: run.conclusion,
    outputs: state.outputs[id] ?? {},
  };
  return run;
}

function fail(
  state: State,
  id: string,
  run: Omit<StepRun, 'outcome' | 'conclusion'>,
  continueOnError: boolean,
): StepRun {
  if (!continueOnError) state.failed = true;
  return record(state, id, {
    ...run,
    outcome: 'failure',
    conclusion: continueOnError ? 'success' : 'failure',
  });
}

/** The step that failed the job, for a readable assertion message. */
export function failure(run: JobRun): string | undefined {
  const step = run.steps.find((s) => s.conclusion === 'failure');
  return step ? `${step.name}: ${step.command ?? ''}\n${step.output.slice(-2000)}` : undefined;
}
