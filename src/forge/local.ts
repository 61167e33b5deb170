import { isAbsolute, resolve } from 'node:path';
import { ForgeError, UsageError } from '../errors.js';
import {
  type CommentAction,
  checkBranchName,
  commentMarker,
  type Forge,
  type LabelChange,
  type MergeInfo,
  type OpenOutcome,
  type Proposal,
  type PullRequest,
} from './forge.js';
import {
  changedFiles,
  cleanMessage,
  commitTree,
  fileAtCommit,
  type GitIdentity,
  gitMessage,
  identityEnv,
  runGit,
  treeFiles,
  writeCommit,
} from './git.js';

/** Title, labels and comments of a local pull request, kept as a git note in the origin repository. */
interface LocalRecord {
  title: string;
  body: string;
  base: string;
  labels: string[];
  comments: { purpose: string; body: string; updatedAt: string }[];
  /** When it was closed without merging. */
  closedAt?: string;
}

const NOTES_REF = 'refs/notes/axiom-forge';
const BRANCH_PREFIX = 'refs/heads/axiom/';

export interface Approval {
  approver: GitIdentity;
  at: Date;
}

export interface LocalForgeOptions {
  /** The clone people work in; its remote is a bare repository on this machine. */
  repoDir: string;
  remote: string;
  identity: GitIdentity;
}

/**
 * Pull requests without a hosting service: the origin is a bare repository, a pull request is a
 * branch `axiom/...` whose commit messages carry the body, and merging is a `--no-ff` merge commit
 * that records who approved it and when. Title, labels and comments live in a git note
 * (`refs/notes/axiom-forge`) on the origin, keyed by the branch name.
 */
export class LocalForge implements Forge {
  private originDir: string | undefined;

  constructor(private readonly options: LocalForgeOptions) {}

  /** The clone's remote that is the origin repository. */
  get remote(): string {
    return this.options.remote;
  }

  /** The bare repository behind the remote. */
  async origin(): Promise<string> {
    if (this.originDir) return this.originDir;
    let url: string;
    try {
      url = (await runGit(this.options.repoDir, ['remote', 'get-url', this.options.remote])).trim();
    } catch (error) {
      throw new ForgeError(
        `${this.options.repoDir} has no remote "${this.options.remote}"; the local forge needs a clone of a bare repository (${gitMessage(error)})`,
      );
    }
    const path = url.startsWith('file://') ? url.slice('file://'.length) : url;
    if (!isAbsolute(path) && !path.startsWith('.'))
      throw new ForgeError(
        `remote "${this.options.remote}" is ${url}; the local forge needs a path on this machine`,
      );
    this.originDir = resolve(this.options.repoDir, path);
    return this.originDir;
  }

  async openOrUpdate(proposal: Proposal): Promise<OpenOutcome> {
    checkBranchName(proposal.branch);
    const origin = await this.origin();
    const [branchTip, baseTip] = await this.tips([proposal.branch, proposal.base]);
    const found = branchTip ? await this.find(proposal.branch, branchTip) : undefined;
    const open = found?.state === 'open' ? found : undefined;
    if (!open && !baseTip) throw new ForgeError(`the base branch ${proposal.base} does not exist`);
    const parent = open ? branchTip : baseTip;
    // Objects are written straight into the origin: nothing to fetch or push.
    const written = await writeCommit(origin, {
      parent: parent as string,
      files: proposal.files,
      message: cleanMessage(`${proposal.commitMessage.trim()}\n\n${proposal.body}`),
      identity: this.options.identity,
    });
    if (!open && !written.changed)
      throw new ForgeError(
        `nothing to propose on ${proposal.branch}: ${proposal.base} already has exactly these files`,
      );
    if (written.changed) await this.moveBranch(proposal.branch, written.commit, open ? parent : undefined);
    const previous = open ? await this.readRecord(proposal.branch) : undefined;
    const labels = [...new Set([...(previous?.labels ?? []), ...proposal.labels])];
    const record: LocalRecord = {
      title: proposal.title,
      body: proposal.body,
      base: proposal.base,
      labels,
      comments: previous?.comments ?? [],
    };
    const recordChanged = JSON.stringify(record) !== JSON.stringify(previous);
    if (recordChanged) await this.writeRecord(proposal.branch, record);
    const action = !open ? 'created' : written.changed || recordChanged ? 'updated' : 'unchanged';
    return {
      // Open: it was open when read, and a commit just written is in no base.
      pullRequest: this.pullRequestOf(origin, proposal.branch, record, 'open'),
      action,
      ...(written.changed ? { commit: written.commit } : {}),
    };
  }

  async findOpen(branch: string): Promise<PullRequest | undefined> {
    const pull = await this.find(branch);
    return pull?.state === 'open' ? pull : undefined;
  }

  async listOpen(prefix: string): Promise<PullRequest[]> {
    return (await this.list()).filter((p) => p.state === 'open' && p.branch.startsWith(prefix));
  }

  async listClosed(prefix: string): Promise<PullRequest[]> {
    return (await this.list()).filter((p) => p.state === 'closed' && p.branch.startsWith(prefix));
  }

  /** Closes an open pull request without merging it: a person's "no". */
  async close(ref: string): Promise<PullRequest> {
    const pull = await this.get(ref);
    if (pull.state !== 'open') throw new ForgeError(`${pull.branch} is already ${pull.state}`);
    const record = await this.requireRecord(pull.branch);
    await this.writeRecord(pull.branch, { ...record, closedAt: new Date().toISOString() });
    return { ...pull, state: 'closed' };
  }

  async readFile(pullRequest: PullRequest, path: string): Promise<string | undefined> {
    const tip = await this.tip(pullRequest.branch);
    return tip ? fileAtCommit(await this.origin(), tip, path) : undefined;
  }

  /**
   * By branch, or by a short name: the end of one branch (`mean_test` for
   * `axiom/propose/mean_test`) or a part of it that names one pull request only.
   */
  async get(ref: string): Promise<PullRequest> {
    if (ref.startsWith('axiom/') || ref.includes('/') || !/^[a-z0-9._-]{1,200}$/.test(ref)) {
      const exact = await this.find(checkBranchName(ref));
      if (exact) return exact;
      throw new ForgeError(`no pull request on branch ${ref}; \`axiom pr list --all\` shows them`);
    }
    const pulls = await this.list();
    const byEnd = pulls.filter((p) => p.branch.endsWith(`/${ref}`));
    const matches = byEnd.length > 0 ? byEnd : pulls.filter((p) => p.branch.includes(ref));
    const open = matches.filter((p) => p.state === 'open');
    const chosen = matches.length === 1 ? matches : open.length === 1 ? open : matches;
    if (chosen.length === 1) return chosen[0] as PullRequest;
    if (chosen.length > 1)
      throw new UsageError(
        `"${ref}" names ${chosen.length} pull requests: ${chosen.map((p) => `${p.branch} (${p.state})`).join(', ')}; give more of the branch`,
        'pr',
      );
    throw new ForgeError(`no pull request on branch ${ref}; \`axiom pr list --all\` shows them`);
  }

  /**
   * What the pull request changes: the files (git's status letter and path) and the patch. An open
   * one against the merge base with its base; a merged one as its merge commit brought it in.
   */
  async changes(
    pullRequest: PullRequest,
  ): Promise<{ files: { status: string; path: string }[]; patch: string }> {
    const range = await this.changeRange(pullRequest);
    const names = await this.git(['diff', '--name-status', '--no-renames', '-z', ...range]);
    const fields = names.split('\0').filter((f) => f !== '');
    const files: { status: string; path: string }[] = [];
    for (let i = 0; i + 1 < fields.length; i += 2)
      files.push({ status: fields[i] as string, path: fields[i + 1] as string });
    const patch = await this.git(['diff', '--no-renames', '--no-color', ...range]);
    return { files, patch };
  }

  private async changeRange(pull: PullRequest): Promise<string[]> {
    const tip = await this.requireTip(pull.branch, `${pull.branch} does not exist`);
    if (pull.state === 'merged') {
      const merge = (
        await this.git([
          'log',
          '-1',
          '--format=%H',
          '--fixed-strings',
          `--grep=Pull-Request: ${pull.branch}`,
          pull.base,
        ])
      ).trim();
      if (merge) return [`${merge}^1`, merge];
    }
    const base = await this.requireTip(pull.base, `the base branch ${pull.base} does not exist`);
    return [`${base}...${tip}`];
  }

  /** Every `axiom/...` branch of the origin, newest first. */
  async list(): Promise<PullRequest[]> {
    const out = await this.git([
      'for-each-ref',
      '--sort=-committerdate',
      '--format=%(refname)',
      BRANCH_PREFIX,
    ]);
    const branches = out
      .split('\n')
      .filter((l) => l !== '')
      .map((r) => r.slice('refs/heads/'.length));
    const pulls = await Promise.all(branches.map((b) => this.find(b)));
    return pulls.filter((p): p is PullRequest => p !== undefined);
  }

  async upsertComment(pullRequest: PullRequest, purpose: string, body: string): Promise<CommentAction> {
    commentMarker(purpose);
    const record = await this.requireRecord(pullRequest.branch);
    const existing = record.comments.find((c) => c.purpose === purpose);
    if (existing?.body === body) return 'unchanged';
    const updatedAt = new Date().toISOString();
    const comments = existing
      ? record.comments.map((c) => (c.purpose === purpose ? { purpose, body, updatedAt } : c))
      : [...record.comments, { purpose, body, updatedAt }];
    await this.writeRecord(pullRequest.branch, { ...record, comments });
    return existing ? 'updated' : 'created';
  }

  async comments(pullRequest: PullRequest): Promise<LocalRecord['comments']> {
    return (await this.requireRecord(pullRequest.branch)).comments;
  }

  async setLabels(pullRequest: PullRequest, change: LabelChange): Promise<string[]> {
    const record = await this.requireRecord(pullRequest.branch);
    const remove = new Set(change.remove ?? []);
    const labels = [...new Set([...record.labels, ...(change.add ?? [])])].filter((l) => !remove.has(l));
    if (JSON.stringify(labels) !== JSON.stringify(record.labels))
      await this.writeRecord(pullRequest.branch, { ...record, labels });
    return labels;
  }

  async listFiles(pullRequest: PullRequest, prefix: string): Promise<string[]> {
    const tip = await this.tip(pullRequest.branch);
    return tip ? treeFiles(await this.origin(), tip, prefix) : [];
  }

  async mergeInfo(commit: string): Promise<MergeInfo> {
    const origin = await this.origin();
    const files = await changedFiles(origin, commit);
    const parents = (await this.git(['rev-list', '--parents', '-n', '1', commit])).trim().split(' ');
    const merged = parents[2];
    if (!merged) return { commit, files };
    const branch = (
      await this.git(['log', '-1', '--format=%(trailers:key=Pull-Request,valueonly)', commit])
    ).trim();
    const pullRequest = branch ? await this.find(branch) : undefined;
    return { commit, files, ...(pullRequest ? { pullRequest } : {}) };
  }

  /**
   * Merges the pull request into its base with a merge commit that records the approval; refuses
   * conflicts and anything not open. The base moves only if nobody moved it meanwhile.
   */
  async merge(ref: string, approval: Approval): Promise<{ commit: string; pullRequest: PullRequest }> {
    const pull = await this.get(ref);
    if (pull.state !== 'open') throw new ForgeError(`${pull.branch} is already ${pull.state}`);
    const origin = await this.origin();
    const baseTip = await this.requireTip(pull.base, `the base branch ${pull.base} does not exist`);
    const headTip = await this.requireTip(pull.branch, `${pull.branch} does not exist`);
    let tree: string;
    try {
      tree = (await this.git(['merge-tree', '--write-tree', '--no-messages', baseTip, headTip]))
        .trim()
        .split('\n')[0] as string;
    } catch (error) {
      throw new ForgeError(
        `${pull.branch} does not merge cleanly into ${pull.base}; update the branch first (${gitMessage(error)})`,
      );
    }
    const message = cleanMessage(
      [
        `Merge ${pull.branch}: ${pull.title}`,
        '',
        `Pull-Request: ${pull.branch}`,
        `Approved-by: ${approval.approver.name} <${approval.approver.email}>`,
        `Approved-at: ${approval.at.toISOString()}`,
        '',
      ].join('\n'),
    );
    const commit = await commitTree(origin, tree, [baseTip, headTip], message, approval.approver);
    await this.moveBranch(pull.base, commit, baseTip);
    return { commit, pullRequest: { ...pull, state: 'merged' } };
  }

  private async find(branch: string, knownTip?: string): Promise<PullRequest | undefined> {
    const tip = knownTip ?? (await this.tip(branch));
    if (!tip) return undefined;
    const record = await this.readRecord(branch);
    if (!record) return undefined;
    const baseTip = await this.tip(record.base);
    const merged = baseTip !== undefined && (await this.isAncestor(tip, baseTip));
    const state = merged ? 'merged' : record.closedAt ? 'closed' : 'open';
    return this.pullRequestOf(await this.origin(), branch, record, state);
  }

  private pullRequestOf(
    origin: string,
    branch: string,
    record: LocalRecord,
    state: PullRequest['state'],
  ): PullRequest {
    return {
      ref: branch,
      branch,
      base: record.base,
      title: record.title,
      body: record.body,
      labels: record.labels,
      url: `${origin}#${branch}`,
      state,
    };
  }

  /** Runs git in the origin repository; stdout. */
  private async git(args: string[], input?: string): Promise<string> {
    return runGit(await this.origin(), args, input === undefined ? {} : { input });
  }

  /** The commits the branches point at, read in one go; undefined for a branch that does not exist. */
  private async tips(branches: readonly string[]): Promise<(string | undefined)[]> {
    const refs = branches.map((b) => `refs/heads/${b}`);
    const out = await this.git(['for-each-ref', '--format=%(objectname) %(objecttype) %(refname)', ...refs]);
    const commits = new Map<string, string>();
    for (const line of out.split('\n')) {
      const [oid, type, ref] = line.split(' ');
      if (oid && type === 'commit' && ref) commits.set(ref, oid);
    }
    return refs.map((ref) => commits.get(ref));
  }

  private async tip(branch: string): Promise<string | undefined> {
    await this.origin();
    try {
      return (
        (await this.git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`])).trim() ||
        undefined
      );
    } catch {
      return undefined;
    }
  }

  private async requireTip(branch: string, message: string): Promise<string> {
    const tip = await this.tip(branch);
    if (!tip) throw new ForgeError(message);
    return tip;
  }

  private async isAncestor(commit: string, of: string): Promise<boolean> {
    // The merge base, where --is-ancestor would answer "no" with the exit status an error has.
    const base = (await this.git(['merge-base', commit, of])).trim();
    return base === commit;
  }

  /** Moves a branch only from the commit we read (compare-and-swap), so concurrent changes are never lost. */
  private async moveBranch(branch: string, commit: string, from: string | undefined): Promise<void> {
    try {
      await this.git(['update-ref', `refs/heads/${branch}`, commit, ...(from ? [from] : [])]);
    } catch (error) {
      throw new ForgeError(`${branch} changed while it was being updated; run again (${gitMessage(error)})`);
    }
  }

  /** The note's key: a blob naming the branch, so the record survives new commits on it. */
  private async recordKey(branch: string): Promise<string> {
    return (await this.git(['hash-object', '-w', '--stdin'], `axiom pull request ${branch}\n`)).trim();
  }

  private async readRecord(branch: string): Promise<LocalRecord | undefined> {
    const key = await this.recordKey(branch);
    let text: string;
    try {
      text = await this.git(['notes', `--ref=${NOTES_REF}`, 'show', key]);
    } catch {
      return undefined;
    }
    try {
      return JSON.parse(text) as LocalRecord;
    } catch {
      throw new ForgeError(`the record of ${branch} in ${NOTES_REF} is not valid JSON`);
    }
  }

  private async requireRecord(branch: string): Promise<LocalRecord> {
    const record = await this.readRecord(branch);
    if (!record) throw new ForgeError(`no pull request on branch ${branch}`);
    return record;
  }

  private async writeRecord(branch: string, record: LocalRecord): Promise<void> {
    const key = await this.recordKey(branch);
    await runGit(await this.origin(), ['notes', `--ref=${NOTES_REF}`, 'add', '--force', '--file', '-', key], {
      env: identityEnv(this.options.identity),
      input: `${JSON.stringify(record, null, 2)}\n`,
    });
  }
}

/** `Name <email>` as git writes it. */
export function parseIdentity(text: string): GitIdentity {
  const match = /^\s*([^<>]+?)\s*<([^<>\s]+@[^<>\s]+)>\s*$/.exec(text);
  if (!match) throw new UsageError(`"${text}" is not an identity; expected Name <email@example.org>`);
  return { name: match[1] as string, email: match[2] as string };
}
