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
import { installedTree, type Mount, parseNpmCi } from './npm-ci.js';
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
 * start: `run:` steps in bash (`bash --noprofile --norc -eo pipefail`, GitHub's default shell) as the
 * runner's unprivileged user (uid 1001, sudo recorded, not run; bubblewrap gives the step its own
 * user namespace) in a fresh clone of a repository made from this working tree, with the environment
 * GitHub sets; `uses:` steps replaced by what the action leaves behind (a checkout at the event's
 * commit with its fetch-depth and sparse-checkout, Node on PATH, a Python whose pip may install,
 * artifacts in a shared folder, an App token). An action the harness does not know fails the step:
 * nothing passes by being unknown. `npm ci` is given the tree it would install (npm-ci.ts) when that
 * is provably this working tree's, and runs for real otherwise. The repository's settings decide
 * what a job may read: secrets and variables of the repository, and of an environment only on a ref
 * its deployment branches allow (a job on another ref fails before its first step, as on GitHub);
 * no secret for a pull request from a fork; a job for a self-hosted runner nobody registered waits.
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
  /** Milliseconds the step took here. */
  ms?: number;
}

export interface JobRun {
  /** Why the job never ran a step: an environment refused the ref, or no runner has its labels. */
  refused?: string;
  steps: StepRun[];
  summary: string;
  workspace: string;
  failed: boolean;
  /** Commands run through sudo (recorded, never run: the runner's VM is not this machine). */
  sudo: string[];
}

/** An environment (Settings → Environments): its deployment branches, secrets and variables. */
export interface EnvironmentSettings {
  /** Deployment branch name patterns (GitHub's filter globs); empty: any branch. */
  branches: string[];
  secrets: Record<string, string>;
  vars: Record<string, string>;
}

/** What the repository holds on GitHub that a workflow can reach. */
export interface RepositorySettings {
  secrets: Record<string, string>;
  vars: Record<string, string>;
  environments: Record<string, EnvironmentSettings>;
  /** Label sets of registered self-hosted runners (none: only GitHub-hosted runners). */
  selfHosted?: string[][];
}

export interface RunOptions {
  event: GitHubEvent;
  repo: Repository;
  /** The repository's settings; jobs read secrets and variables through them. */
  settings?: RepositorySettings;
  /** Variables and secrets given straight to the job (a test's own, on top of the settings). */
  vars?: Record<string, string>;
  secrets?: Record<string, string>;
  /** The job's GITHUB_TOKEN (github.token); a test mints it with the job's permissions. */
  token?: string;
  /** The token actions/create-github-app-token leaves (a test mints it with the App's permissions). */
  appToken?: string;
  /** Programs put first on PATH for this job, by name (e.g. a recording `npm` where the job runs the suite itself). */
  shims?: Record<string, string>;
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

function prepareRunner(shims: Record<string, string> = {}): {
  root: string;
  bin: string;
  temp: string;
  home: string;
  sudoLog: string;
} {
  const root = tempDir('axiom-runner-');
  const bin = join(root, 'harness-bin');
  const temp = join(root, '_temp');
  const home = join(root, 'home');
  for (const dir of [bin, temp, home]) mkdirSync(dir, { recursive: true });
  writeFileSync(join(bin, 'sudo'), STUBS);
  // The image's python and python3 are the system Python (Ubuntu's python-is-python3), externally managed.
  for (const name of ['python', 'python3'])
    writeFileSync(join(bin, name), '#!/bin/sh\nexec /usr/bin/python3 "$@"\n');
  for (const [name, text] of Object.entries(shims)) writeFileSync(join(bin, name), text);
  for (const name of ['sudo', 'python', 'python3', ...Object.keys(shims)]) chmodSync(join(bin, name), 0o755);
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
  /** What `npm ci` left, mounted into every later step. */
  mounts: Mount[];
  secrets: Record<string, string>;
  vars: Record<string, string>;
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
    if (!inputs['client-id'] && !inputs['app-id'])
      throw new Error('Input required and not supplied: client-id');
    state.outputs[id] = { token: state.options.appToken ?? 'ghs_apptoken', 'app-slug': 'axiom-lab' };
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
  // sparse-checkout: what actions/checkout does with it (cone mode unless sparse-checkout-cone-mode is false).
  const sparse = String(inputs['sparse-checkout'] ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (sparse.length > 0) {
    const cone = String(inputs['sparse-checkout-cone-mode'] ?? 'true') !== 'false';
    git(ws, 'sparse-checkout', 'set', cone ? '--cone' : '--no-cone', ...sparse);
  }
  git(ws, 'checkout', '--quiet', '--force', '--detach', 'refs/remotes/origin/checkout');
  return `checked out ${git(ws, 'rev-parse', 'HEAD')} (fetch-depth ${depth}${sparse.length ? `, sparse: ${sparse.join(' ')}` : ''})`;
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

/** Results of identical earlier runs (same command, lockfile and sources): the entries they made, copied. */
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

function copy(from: string, to: string, links: boolean): Promise<unknown> {
  return new Promise((done) => spawn('cp', [links ? '-al' : '-a', from, to]).on('close', done));
}

/** bubblewrap's arguments for a step: the whole machine, the runner's uid, and what `npm ci` mounted. */
function sandboxArgs(mounts: readonly Mount[]): string[] {
  const args = [
    '--dev-bind',
    '/',
    '/',
    '--unshare-user',
    '--uid',
    '1001',
    '--gid',
    '1001',
    '--die-with-parent',
  ];
  for (const mount of mounts) {
    if (mount.kind === 'ro-bind') args.push('--ro-bind', mount.source, mount.target);
    else if (mount.directory) args.push('--tmpfs', mount.target);
    else args.push('--ro-bind', '/dev/null', mount.target);
  }
  return args;
}

async function runInSandbox(
  state: State,
  script: string,
  env: Record<string, string>,
): Promise<{ code: number; output: string }> {
  const file = join(state.runner.temp, `step-${Date.now()}-${Math.random().toString(36).slice(2)}.sh`);
  writeFileSync(file, script);
  return new Promise((done) => {
    const child = spawn(
      'bwrap',
      [...sandboxArgs(state.mounts), 'bash', '--noprofile', '--norc', '-eo', 'pipefail', file],
      { cwd: state.workspace, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), state.options.stepTimeoutMs ?? 180_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code: code ?? 1, output });
    });
  });
}

/** Runs a script, or gives the result an identical earlier run left (same command and sources). */
async function runOnce(
  state: State,
  script: string,
  env: Record<string, string>,
): Promise<{ code: number; output: string; note?: string }> {
  const key = installKey(state.workspace, script);
  const cached = installs.get(key);
  if (cached) {
    for (const entry of cached.entries)
      await copy(join(cached.dir, entry), join(state.workspace, entry), entry === 'node_modules');
    return { code: 0, output: '', note: 'the result of an identical earlier run (same command and sources)' };
  }
  const before = new Set(readdirSync(state.workspace));
  const result = await runInSandbox(state, script, env);
  if (result.code === 0) {
    const dir = tempDir('axiom-install-');
    const entries = readdirSync(state.workspace).filter((e) => !before.has(e) && e !== 'node_modules');
    // A real npm ci's node_modules is kept as hard links between two scratch trees, never this one's.
    if (!state.mounts.length && existsSync(join(state.workspace, 'node_modules')))
      entries.push('node_modules');
    for (const entry of entries)
      await copy(join(state.workspace, entry), join(dir, entry), entry === 'node_modules');
    installs.set(key, { dir, entries });
  }
  return result;
}

async function runScript(
  state: State,
  script: string,
  env: Record<string, string>,
): Promise<{ code: number; output: string; note?: string }> {
  const npm = parseNpmCi(script);
  if (!npm) return runInSandbox(state, script, env);
  const tree = installedTree(state.workspace, npm.flags);
  if ('reason' in tree) {
    const result = await runOnce(state, script, env);
    return { ...result, note: `a real npm ci (${tree.reason})${result.note ? `; ${result.note}` : ''}` };
  }
  state.mounts.push(...tree.mounts);
  const rest = [...tree.scripts.map((name) => `npm run ${name}`), ...(npm.rest ? [npm.rest] : [])].join(
    ' && ',
  );
  const result = rest ? await runOnce(state, rest, env) : { code: 0, output: '' };
  return { ...result, note: [tree.note, result.note].filter(Boolean).join('; ') };
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

/** The ref name an environment's deployment branches are matched against (refs/pull/N/merge for a pull request). */
function deploymentRef(event: GitHubEvent): string {
  return event.name === 'pull_request' ? event.ref : event.ref.replace(/^refs\/(heads|tags)\//, '');
}

function fromFork(event: GitHubEvent): boolean {
  const head = (event.payload as { pull_request?: { head?: { repo?: { full_name?: string } } } }).pull_request
    ?.head?.repo?.full_name;
  return event.name === 'pull_request' && head !== undefined && head !== `${OWNER}/${REPO}`;
}

/**
 * What the job may read, or why it never starts: an environment whose deployment branches do not
 * include the ref refuses the job ("Branch "x" is not allowed to deploy to y due to environment
 * protection rules."), secrets are not given to a pull request from a fork, and a job for
 * self-hosted labels no registered runner has waits for one.
 */
function access(
  workflow: Workflow,
  jobId: string,
  options: RunOptions,
  github: Record<string, unknown>,
): { secrets: Record<string, string>; vars: Record<string, string> } | { refused: string } {
  const job = jobOf(workflow, jobId);
  const settings = options.settings ?? { secrets: {}, vars: {}, environments: {} };
  const labels = resolve(job['runs-on'], { github, vars: settings.vars });
  const wanted = (Array.isArray(labels) ? labels : [labels]).map(String);
  if (
    wanted.includes('self-hosted') &&
    !(settings.selfHosted ?? []).some((r) => wanted.every((l) => l === 'self-hosted' || r.includes(l)))
  )
    return {
      refused: `Waiting for a runner to pick up this job: no self-hosted runner has the labels ${wanted.join(', ')}`,
    };
  const named = resolve(job.environment, { github, vars: settings.vars });
  const environmentName = typeof named === 'string' ? named : (named as { name?: string } | undefined)?.name;
  const environment = environmentName ? settings.environments[environmentName] : undefined;
  const ref = deploymentRef(options.event);
  if (
    environment &&
    environment.branches.length > 0 &&
    !environment.branches.some((b) => globToRegExp(b).test(ref))
  )
    return {
      refused: `Branch "${ref}" is not allowed to deploy to ${environmentName} due to environment protection rules.`,
    };
  const secrets = fromFork(options.event) ? {} : { ...settings.secrets, ...(environment?.secrets ?? {}) };
  return {
    secrets: { ...secrets, ...(options.secrets ?? {}) },
    vars: { ...settings.vars, ...(environment?.vars ?? {}), ...(options.vars ?? {}) },
  };
}

/** Runs one job of a workflow for an event; stops at the first failing step, as the runner does. */
export async function runJob(workflow: Workflow, jobId: string, options: RunOptions): Promise<JobRun> {
  const job = jobOf(workflow, jobId);
  const runner = prepareRunner(options.shims);
  const workspace = join(runner.root, 'work', REPO, REPO);
  mkdirSync(workspace, { recursive: true });
  const github = githubContext(options.event, {
    workspace,
    ...(options.token ? { token: options.token } : {}),
  });
  const allowed = access(workflow, jobId, options, github);
  if ('refused' in allowed)
    return { refused: allowed.refused, steps: [], summary: '', workspace, failed: true, sudo: [] };
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
    mounts: [],
    ...allowed,
  };
  const base = defaultEnv(state, options.event);
  const matrix = options.matrix ?? matrixOf(job, { github })[0] ?? {};
  const runs: StepRun[] = [];
  for (const [index, step] of job.steps.entries()) {
    const started = Date.now();
    const run = await runStep(state, step, {
      github,
      matrix,
      base,
      job,
      inputs: stepInputs(workflow, jobId, index),
    });
    runs.push({ ...run, ms: Date.now() - started });
  }
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
    vars: state.vars,
    secrets: { ...state.secrets, GITHUB_TOKEN: String(scope.github.token) },
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
    if (skipReason) return skipped(state, s.id, { name, kind, note: skipReason });
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
  if (skipReason) return skipped(state, s.id, { name, kind, note: skipReason, command: script });
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

/** A step the test asked not to run, with its reason. */
function skipped(
  state: State,
  id: string,
  run: Pick<StepRun, 'name' | 'kind' | 'note' | 'command'>,
): StepRun {
  return record(state, id, { ...run, outcome: 'skipped', conclusion: 'skipped', output: '' });
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
