import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { type SimpleGit, simpleGit } from 'simple-git';
import { ForgeError, UsageError } from '../errors.js';
import type { ProposalFile } from './forge.js';

export interface GitIdentity {
  name: string;
  email: string;
}

/** Who commits what Axiom Lab proposes, unless the environment names someone else. */
export const DEFAULT_IDENTITY: GitIdentity = {
  name: 'Axiom Lab',
  email: 'axiom-lab@users.noreply.github.com',
};

/**
 * A small, explicit environment for git: no pager, editor or prompt from the caller's shell can
 * change what it does, and nothing asks for input.
 */
function gitEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? tmpdir(),
    LANG: 'C',
    GIT_TERMINAL_PROMPT: '0',
    ...extra,
  };
}

/** simple-git's default treats a non-zero exit as success when git wrote nothing to stderr. */
function failOnExitCode(
  error: Buffer | Error | undefined,
  result: { exitCode: number; stdErr: Buffer[]; stdOut: Buffer[] },
): Buffer | Error | undefined {
  if (error || result.exitCode === 0) return error;
  const stderr = Buffer.concat(result.stdErr).toString('utf8').trim();
  return new Error(stderr || `git exited with status ${result.exitCode}`);
}

/** The environment that makes git's commits (and notes) by `identity`, whatever the machine's config says. */
export function identityEnv(identity: GitIdentity): Record<string, string> {
  return {
    GIT_AUTHOR_NAME: identity.name,
    GIT_AUTHOR_EMAIL: identity.email,
    GIT_COMMITTER_NAME: identity.name,
    GIT_COMMITTER_EMAIL: identity.email,
  };
}

/**
 * The commit of exactly `ref` in `git ls-remote` output. ls-remote matches its pattern against the
 * tail of every ref, so refs/heads/main also lists a branch named `x/refs/heads/main`, which anyone
 * who can push a branch can make, and which sorts before it.
 */
function exactRef(listed: string, ref: string): string | undefined {
  for (const line of listed.split('\n')) {
    const [sha, name] = line.trim().split(/\s+/);
    if (name === ref && sha && /^[0-9a-f]{40}$/.test(sha)) return sha;
  }
  return undefined;
}

export function openGit(dir: string, extra: Record<string, string> = {}): SimpleGit {
  return simpleGit({ baseDir: dir, errors: failOnExitCode }).env(gitEnv(extra));
}

/** Repository-relative, normalised, and outside .git: anything else is refused. */
export function checkRepoPath(path: string): string {
  const normal = posix.normalize(path);
  if (
    path === '' ||
    path.startsWith('/') ||
    path.includes('\\') ||
    normal !== path ||
    normal.startsWith('../') ||
    normal === '..' ||
    normal.split('/').some((part) => part === '.git' || part === '.' || part === '')
  )
    throw new UsageError(`file path "${path}" must be a plain relative path inside the repository`);
  return path;
}

export interface CommitRequest {
  parent: string;
  files: readonly ProposalFile[];
  message: string;
  identity: GitIdentity;
}

/** A commit written without touching any working tree or the repository's own index. */
export interface WrittenCommit {
  commit: string;
  tree: string;
  /** False when the files were already exactly so in the parent: nothing was written. */
  changed: boolean;
}

/** Runs git in `dir` with `input` on its stdin; its stdout, or an error with its stderr on a non-zero exit. */
export function runGit(
  dir: string,
  args: readonly string[],
  options: { env?: Record<string, string>; input?: string | Buffer | readonly (string | Buffer)[] } = {},
): Promise<string> {
  // Not simple-git: it waits 50 ms after every command that prints nothing, which most plumbing is.
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd: dir, env: gitEnv(options.env) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(Buffer.concat(out).toString('utf8'));
      const stderr = Buffer.concat(err).toString('utf8').trim();
      reject(new Error(stderr || `git ${args[0]} exited with ${code ?? signal}`));
    });
    // git may exit before reading all of its input (a refusal); its exit status says why.
    child.stdin.on('error', () => {});
    const input = options.input ?? [];
    for (const chunk of typeof input === 'string' || Buffer.isBuffer(input) ? [input] : input)
      child.stdin.write(chunk);
    child.stdin.end();
  });
}

/** A path as `git fast-import` reads it: always C-quoted, so no name can end or extend a command. */
function importPath(path: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: quoting them is the point
  const quoted = path.replace(/[\\"\u0000-\u001f\u007f]/g, (c) =>
    c === '\\' || c === '"' ? `\\${c}` : `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`,
  );
  return `"${quoted}"`;
}

/** `Name <email> now` for fast-import; a name or address that would break the line is refused. */
function importIdent(identity: GitIdentity): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing them is the point
  const bad = /[<>\u0000-\u001f\u007f]/;
  if (bad.test(identity.name) || bad.test(identity.email))
    throw new UsageError(
      `identity "${identity.name} <${identity.email}>" has a character git cannot record; expected Name <email@example.org>`,
    );
  return `${identity.name} <${identity.email}> now`;
}

const data = (content: string | Buffer): (string | Buffer)[] => {
  const bytes = typeof content === 'string' ? Buffer.from(content) : content;
  return [`data ${bytes.length}\n`, bytes, '\n'];
};

/**
 * The fast-import commands that write `request` as a commit and print its id, its tree and its
 * parent's tree. The commit is made on a scratch ref that the same stream deletes again, so no ref
 * is moved: the caller moves the branch.
 */
function importStream(request: CommitRequest, scratchRef: string): (string | Buffer)[] {
  const removed = request.files.filter((f) => f.content === null).map((f) => checkRepoPath(f.path));
  const added = request.files.flatMap((f) =>
    f.content === null ? [] : [{ ...f, path: checkRepoPath(f.path) }],
  );
  const ident = importIdent(request.identity);
  const commitMark = added.length + 1;
  return [
    ...added.flatMap((f, i) => [`blob\nmark :${i + 1}\n`, ...data(f.content as string | Buffer)]),
    `commit ${scratchRef}\nmark :${commitMark}\nauthor ${ident}\ncommitter ${ident}\n`,
    ...data(request.message),
    `from ${request.parent}\n`,
    // Removals first, as a later file of the same path is written anew.
    ...removed.map((path) => `D ${importPath(path)}\n`),
    ...added.map((f, i) => `M 100644 :${i + 1} ${importPath(f.path)}\n`),
    '\n',
    `get-mark :${commitMark}\nls :${commitMark} ""\nls ${request.parent} ""\n`,
    `reset ${scratchRef}\nfrom ${'0'.repeat(request.parent.length)}\n\n`,
    'done\n',
  ];
}

/**
 * Writes `files` on top of `parent` as one commit with a single `git fast-import`: blobs, trees and
 * the commit in one process, without any working tree, index or ref of the repository touched.
 */
export async function writeCommit(repoDir: string, request: CommitRequest): Promise<WrittenCommit> {
  if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(request.parent))
    throw new ForgeError(`cannot write on ${request.parent}: not a commit id`);
  const scratchRef = `refs/axiom/scratch/${randomUUID()}`;
  const stream = importStream(request, scratchRef);
  let out: string;
  try {
    out = await runGit(repoDir, ['fast-import', '--quiet', '--done', '--date-format=now'], {
      input: stream,
    });
  } catch (error) {
    throw new ForgeError(`cannot write a commit on ${request.parent}: ${gitMessage(error)}`, undefined, {
      cause: error,
    });
  }
  const [commit = '', tree = '', parentTree = ''] = out
    .trim()
    .split('\n')
    .map((line) => /^(?:040000 tree )?([0-9a-f]{40,64})/.exec(line)?.[1] ?? '');
  if (!commit || !tree || !parentTree)
    throw new ForgeError(`git fast-import answered unexpectedly: ${out.slice(0, 200)}`);
  if (tree === parentTree) return { commit: request.parent, tree, changed: false };
  return { commit, tree, changed: true };
}

export async function commitTree(
  repoDir: string,
  tree: string,
  parents: readonly string[],
  message: string,
  identity: GitIdentity,
): Promise<string> {
  const parentArgs = parents.flatMap((p) => ['-p', p]);
  // The message goes in on stdin: it is untrusted text and may start with "-".
  const out = await runGit(repoDir, ['commit-tree', tree, ...parentArgs], {
    env: identityEnv(identity),
    input: message,
  });
  return out.trim();
}

/** Commit messages are text: control characters other than newline and tab are dropped. */
export function cleanMessage(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  return text.replace(/\r\n?/g, '\n').replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '');
}

/** A remote of a local clone: the place proposals are pushed to and base branches fetched from. */
export class GitRemote {
  constructor(
    readonly repoDir: string,
    readonly remote: string,
    /** Extra environment for fetch and push, e.g. an authorization header through GIT_CONFIG_*. */
    private readonly transportEnv: Record<string, string> = {},
  ) {}

  private transport(): SimpleGit {
    const extra = this.transportEnv;
    // GIT_CONFIG_COUNT carries our own authorization header, never text from outside.
    return simpleGit({
      baseDir: this.repoDir,
      errors: failOnExitCode,
      // Our own askpass program (git before 2.31), never one from outside.
      unsafe: {
        allowUnsafeConfigEnvCount: 'GIT_CONFIG_COUNT' in extra,
        allowUnsafeAskPass: 'GIT_ASKPASS' in extra,
      },
    }).env(gitEnv(extra));
  }

  /** The branch's commit on the remote, fetched into this clone; undefined when it does not exist. */
  fetchBranch(branch: string): Promise<string | undefined> {
    return this.fetchInto(`refs/heads/${branch}`, `refs/axiom/remotes/${this.remote}/${branch}`, branch);
  }

  /** Any ref of the remote (e.g. refs/pull/12/head), fetched into this clone; undefined when absent. */
  fetchRef(ref: string): Promise<string | undefined> {
    return this.fetchInto(ref, `refs/axiom/remotes/${this.remote}/${ref.replace(/^refs\//, '')}`, ref);
  }

  private async fetchInto(ref: string, tracking: string, name: string): Promise<string | undefined> {
    try {
      const listed = await this.transport().raw(['ls-remote', this.remote, ref]);
      if (exactRef(listed, ref) === undefined) return undefined;
      await this.transport().raw(['fetch', '--quiet', '--no-tags', this.remote, `+${ref}:${tracking}`]);
    } catch (error) {
      throw new ForgeError(`cannot fetch ${name} from ${this.remote}: ${gitMessage(error)}`, undefined, {
        cause: error,
      });
    }
    return (await openGit(this.repoDir).raw(['rev-parse', tracking])).trim();
  }

  /** The commit a branch of the remote points at; undefined when it has no such branch. */
  async remoteTip(branch: string): Promise<string | undefined> {
    try {
      const ref = `refs/heads/${branch}`;
      return exactRef(await this.transport().raw(['ls-remote', '--heads', this.remote, ref]), ref);
    } catch (error) {
      throw new ForgeError(`cannot read ${branch} from ${this.remote}: ${gitMessage(error)}`, undefined, {
        cause: error,
      });
    }
  }

  /** Deletes a branch of the remote. */
  async deleteBranch(branch: string): Promise<void> {
    try {
      await this.transport().raw(['push', '--quiet', this.remote, `:refs/heads/${branch}`]);
    } catch (error) {
      throw new ForgeError(`cannot delete ${branch} on ${this.remote}: ${gitMessage(error)}`, undefined, {
        cause: error,
      });
    }
  }

  async push(commit: string, branch: string, options: { force: boolean }): Promise<void> {
    const refspec = `${options.force ? '+' : ''}${commit}:refs/heads/${branch}`;
    try {
      await this.transport().raw(['push', '--quiet', this.remote, refspec]);
    } catch (error) {
      throw new ForgeError(`cannot push ${branch} to ${this.remote}: ${gitMessage(error)}`, undefined, {
        cause: error,
      });
    }
  }
}

/** Paths under `prefix` in a commit's tree. */
export async function treeFiles(repoDir: string, commit: string, prefix: string): Promise<string[]> {
  const out = await openGit(repoDir).raw(['ls-tree', '-r', '-z', '--name-only', commit, '--', prefix]);
  return out.split('\0').filter((p) => p !== '');
}

/** Paths a commit changed relative to its first parent. */
export async function changedFiles(repoDir: string, commit: string): Promise<string[]> {
  const out = await openGit(repoDir).raw([
    'diff',
    '--name-only',
    '--no-renames',
    '-z',
    `${commit}^1`,
    commit,
  ]);
  return out.split('\0').filter((p) => p !== '');
}

export function gitMessage(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).trim().split('\n').slice(-3).join(' ');
}

/** The commit checked out in `dir`, or `uncommitted` outside a git repository. */
export async function headCommit(dir: string): Promise<string> {
  try {
    return (await openGit(dir).raw(['rev-parse', 'HEAD'])).trim();
  } catch {
    return 'uncommitted';
  }
}

/** A file's text at a commit, or undefined when the commit or the file is not in this history. */
export async function fileAtCommit(dir: string, commit: string, path: string): Promise<string | undefined> {
  if (!/^[0-9a-f]{40}$/.test(commit)) return undefined;
  try {
    return await openGit(dir).raw(['show', `${commit}:${checkRepoPath(path)}`]);
  } catch {
    return undefined;
  }
}

let gitVersion: [number, number] | undefined;

/** The installed git's version, e.g. [2, 43]; [0, 0] when it cannot be told. */
export function installedGitVersion(): [number, number] {
  if (gitVersion) return gitVersion;
  try {
    const out = execFileSync('git', ['--version'], { encoding: 'utf8', env: gitEnv() });
    const match = /git version (\d+)\.(\d+)/.exec(out);
    gitVersion = match ? [Number(match[1]), Number(match[2])] : [0, 0];
  } catch {
    gitVersion = [0, 0];
  }
  return gitVersion;
}

/** GIT_CONFIG_COUNT/KEY/VALUE came with git 2.31; older ones ignore them silently. */
const CONFIG_ENV_VERSION: [number, number] = [2, 31];

let askpass: string | undefined;

/**
 * A GIT_ASKPASS program for git older than 2.31: it answers the username prompt with
 * x-access-token and the password prompt with the token from its environment, so the token is never
 * in a URL, a file or a command line.
 */
function askpassProgram(): string {
  if (askpass) return askpass;
  const dir = mkdtempSync(join(tmpdir(), 'axiom-askpass-'));
  const program = join(dir, 'askpass');
  writeFileSync(
    program,
    '#!/bin/sh\ncase "$1" in\n  Username*) echo x-access-token ;;\n  *) printf \'%s\\n\' "$AXIOM_GIT_TOKEN" ;;\nesac\n',
    {
      mode: 0o700,
    },
  );
  askpass = program;
  return program;
}

/**
 * git's environment for https pushes and fetches with a token: an authorization header through
 * GIT_CONFIG_* on git 2.31 and later; an askpass program before that. Never in a URL or on a
 * command line.
 */
export function tokenAuthEnv(
  serverUrl: string,
  token: string,
  version: [number, number] = installedGitVersion(),
): Record<string, string> {
  const server = serverUrl.replace(/\/$/, '');
  if (!/^https?:\/\//.test(server)) return {};
  const [major, minor] = version;
  const modern =
    major > CONFIG_ENV_VERSION[0] || (major === CONFIG_ENV_VERSION[0] && minor >= CONFIG_ENV_VERSION[1]);
  if (!modern) return { GIT_ASKPASS: askpassProgram(), AXIOM_GIT_TOKEN: token };
  const basic = Buffer.from(`x-access-token:${token}`).toString('base64');
  return {
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: `http.${server}/.extraheader`,
    GIT_CONFIG_VALUE_0: `AUTHORIZATION: basic ${basic}`,
  };
}
