import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import { RequestError } from '@octokit/request-error';
import { Octokit } from '@octokit/rest';
import Bottleneck from 'bottleneck';
import { ConfigurationError, ForgeError } from '../errors.js';
import { cutText, fitBody } from './body.js';
import {
  type CommentAction,
  checkBranchName,
  commentMarker,
  type Forge,
  GITHUB_BODY_LIMIT,
  type LabelChange,
  type MergeInfo,
  type OpenOutcome,
  type Proposal,
  type PullRequest,
} from './forge.js';
import {
  changedFiles,
  fileAtCommit,
  type GitIdentity,
  GitRemote,
  tokenAuthEnv,
  treeFiles,
  writeCommit,
} from './git.js';

/** GitHub's advice for integrations: space out writes (1 s) and writes that notify people (3 s). */
export interface GitHubPacing {
  writeGapMs: number;
  notificationGapMs: number;
  /** What one second of a `retry-after` or rate-limit reset means, in milliseconds. */
  retryUnitMs: number;
  /** How many times one request is retried after a rate limit. */
  rateLimitRetries: number;
}

export const GITHUB_PACING: GitHubPacing = {
  writeGapMs: 1000,
  notificationGapMs: 3000,
  retryUnitMs: 1000,
  rateLimitRetries: 2,
};

export interface GitHubForgeOptions {
  /** A local clone whose remote is the GitHub repository (the Actions checkout). */
  repoDir: string;
  remote: string;
  /** `owner/name`. */
  repository: string;
  token: string;
  /** REST API root: `https://api.github.com`, or `https://HOST/api/v3` on GitHub Enterprise Server. */
  apiUrl: string;
  /** Web root for links: `https://github.com` or the Enterprise host. */
  serverUrl: string;
  identity: GitIdentity;
  /**
   * The App's bot account (`<app-slug>[bot]`): commits are its (its noreply address, looked up once),
   * unless `identityGiven`; and only its marker comments are taken for ours.
   */
  botLogin?: string;
  /** The committer was named explicitly (GIT_COMMITTER_NAME/EMAIL): keep it. */
  identityGiven?: boolean;
  pacing?: GitHubPacing;
  /** Where rate-limit waits are reported. */
  log?: (line: string) => void;
}

const ThrottledOctokit = Octokit.plugin(throttling, retry);
type Client = InstanceType<typeof ThrottledOctokit>;

interface PullShape {
  number: number;
  title: string;
  body?: string | null;
  html_url: string;
  state: string;
  merged_at?: string | null;
  labels: { name?: string }[];
  head: { ref: string; repo?: { full_name: string } | null };
  base: { ref: string };
}

function toPullRequest(pull: PullShape): PullRequest {
  return {
    number: pull.number,
    ref: `#${pull.number}`,
    branch: pull.head.ref,
    base: pull.base.ref,
    title: pull.title,
    body: pull.body ?? '',
    labels: pull.labels.map((l) => l.name ?? '').filter((n) => n !== ''),
    url: pull.html_url,
    state: pull.merged_at ? 'merged' : pull.state === 'open' ? 'open' : 'closed',
  };
}

/** The forge on GitHub's REST API: commits pushed with git, pull requests through Octokit. */
export class GitHubForge implements Forge {
  private readonly client: Client;
  private readonly owner: string;
  private readonly repo: string;
  private readonly git: GitRemote;

  constructor(private readonly options: GitHubForgeOptions) {
    const [owner, repo, extra] = options.repository.split('/');
    if (!owner || !repo || extra !== undefined)
      throw new ConfigurationError(
        `GITHUB_REPOSITORY must be owner/name, e.g. axiom-lab/research; found "${options.repository}"`,
      );
    this.owner = owner;
    this.repo = repo;
    this.client = createClient(options);
    this.git = new GitRemote(options.repoDir, options.remote, pushAuthEnv(options));
  }

  private identity?: GitIdentity;

  /** Who commits: the bot's own noreply identity when it is known, else the configured one. */
  private async committer(): Promise<GitIdentity> {
    if (this.identity) return this.identity;
    const login = this.options.botLogin;
    if (!login || this.options.identityGiven) {
      this.identity = this.options.identity;
      return this.identity;
    }
    const { data } = await this.call(`look up ${login}`, () =>
      this.client.rest.users.getByUsername({ username: login }),
    );
    // GitHub's noreply address for an account: <id>+<login>@users.noreply.github.com.
    this.identity = { name: login, email: `${data.id}+${login}@users.noreply.github.com` };
    return this.identity;
  }

  async openOrUpdate(proposal: Proposal): Promise<OpenOutcome> {
    checkBranchName(proposal.branch);
    const fitted = fitBody(proposal.body, {
      limit: GITHUB_BODY_LIMIT,
      branch: proposal.branch,
      link: (path) => `${this.webUrl()}/blob/${proposal.branch}/${path}`,
    });
    const files = fitted.file ? [...proposal.files, fitted.file] : proposal.files;
    const open = await this.findOpen(proposal.branch);
    const branchTip = open ? await this.git.fetchBranch(proposal.branch) : undefined;
    // A branch left over from a closed or merged pull request is deleted and made afresh from the
    // base, never force-pushed: a force-push carries every change the base gained since (workflow
    // files among them, which an App without the Workflows permission may not push).
    const leftover = open ? undefined : await this.git.remoteTip(proposal.branch);
    const parent = branchTip ?? (await this.baseTip(proposal.base));
    const written = await writeCommit(this.options.repoDir, {
      parent,
      files,
      message: proposal.commitMessage,
      identity: await this.committer(),
    });
    if (!open && !written.changed)
      throw new ForgeError(
        `nothing to propose on ${proposal.branch}: ${proposal.base} already has exactly these files`,
      );
    if (written.changed) {
      if (leftover) await this.git.deleteBranch(proposal.branch);
      await this.git.push(written.commit, proposal.branch, { force: false });
    }
    const outcome = open
      ? await this.update(open, proposal, fitted.body, written.changed)
      : await this.create(proposal, fitted.body);
    return {
      ...outcome,
      ...(written.changed ? { commit: written.commit } : {}),
      ...(fitted.file ? { bodyFile: fitted.file.path } : {}),
    };
  }

  private async create(proposal: Proposal, body: string): Promise<Omit<OpenOutcome, 'commit'>> {
    let created: PullRequest;
    try {
      const { data } = await this.client.rest.pulls.create({
        owner: this.owner,
        repo: this.repo,
        head: proposal.branch,
        base: proposal.base,
        title: proposal.title,
        body,
        maintainer_can_modify: true,
      });
      created = toPullRequest(data);
    } catch (error) {
      // Another run opened it between our lookup and our request: update that one instead.
      const existing = isAlreadyExists(error) ? await this.findOpen(proposal.branch) : undefined;
      if (!existing) throw translate(error, 'open a pull request');
      return this.update(existing, proposal, body, true);
    }
    const labels = await this.setLabels(created, { add: proposal.labels });
    return { pullRequest: { ...created, labels }, action: 'created' };
  }

  private async update(
    open: PullRequest,
    proposal: Proposal,
    body: string,
    pushed: boolean,
  ): Promise<Omit<OpenOutcome, 'commit'>> {
    let current = open;
    const textChanged = open.title !== proposal.title || open.body !== body;
    if (textChanged) {
      const { data } = await this.call('update a pull request', () =>
        this.client.rest.pulls.update({
          owner: this.owner,
          repo: this.repo,
          pull_number: open.number as number,
          title: proposal.title,
          body,
        }),
      );
      current = toPullRequest(data);
    }
    const missing = proposal.labels.filter((l) => !current.labels.includes(l));
    const labels = missing.length > 0 ? await this.setLabels(current, { add: missing }) : current.labels;
    const changed = pushed || textChanged || missing.length > 0;
    return { pullRequest: { ...current, labels }, action: changed ? 'updated' : 'unchanged' };
  }

  async findOpen(branch: string): Promise<PullRequest | undefined> {
    const { data } = await this.call('list pull requests', () =>
      this.client.rest.pulls.list({
        owner: this.owner,
        repo: this.repo,
        state: 'open',
        head: `${this.owner}:${branch}`,
        per_page: 10,
      }),
    );
    const pull = data.find((p) => p.head.ref === branch);
    return pull ? toPullRequest(pull) : undefined;
  }

  async listOpen(prefix: string): Promise<PullRequest[]> {
    return (await this.ownPulls('open', prefix)).map(toPullRequest);
  }

  async listClosed(prefix: string): Promise<PullRequest[]> {
    return (await this.ownPulls('closed', prefix)).filter((p) => !p.merged_at).map(toPullRequest);
  }

  /** Pull requests in a state whose branch starts with `prefix`, from this repository only. */
  private async ownPulls(state: 'open' | 'closed', prefix: string) {
    const pulls = await this.call(`list ${state === 'open' ? '' : 'closed '}pull requests`, () =>
      this.client.paginate(this.client.rest.pulls.list, {
        owner: this.owner,
        repo: this.repo,
        state,
        per_page: 100,
      }),
    );
    // A fork's branch may have any name: only this repository's own branches are ours.
    const own = `${this.owner}/${this.repo}`.toLowerCase();
    return pulls.filter((p) => p.head.ref.startsWith(prefix) && p.head.repo?.full_name.toLowerCase() === own);
  }

  async readFile(pullRequest: PullRequest, path: string): Promise<string | undefined> {
    // A closed pull request's branch may be gone (head branches deleted on close); GitHub keeps
    // its last commit as refs/pull/<number>/head.
    const tip =
      (await this.git.fetchBranch(pullRequest.branch)) ??
      (pullRequest.number ? await this.git.fetchRef(`refs/pull/${pullRequest.number}/head`) : undefined);
    return tip ? fileAtCommit(this.options.repoDir, tip, path) : undefined;
  }

  async get(ref: string): Promise<PullRequest> {
    const number = Number(ref.replace(/^#/, ''));
    if (!Number.isInteger(number) || number <= 0)
      throw new ForgeError(`"${ref}" is not a pull request number; expected e.g. 12 or #12`);
    const { data } = await this.call(`read pull request #${number}`, () =>
      this.client.rest.pulls.get({ owner: this.owner, repo: this.repo, pull_number: number }),
    );
    return toPullRequest(data);
  }

  async upsertComment(pullRequest: PullRequest, purpose: string, body: string): Promise<CommentAction> {
    const marker = commentMarker(purpose);
    const text = `${marker}\n${cutText(body, GITHUB_BODY_LIMIT - marker.length - 1)}`;
    const issue = { owner: this.owner, repo: this.repo, issue_number: pullRequest.number as number };
    const comments = await this.call('list comments', () =>
      this.client.paginate(this.client.rest.issues.listComments, { ...issue, per_page: 100 }),
    );
    const ours = comments.find(
      (c) =>
        (c.body ?? '').startsWith(marker) &&
        // Only our own bot's comment counts: a person or another app copying the marker is ignored.
        (this.options.botLogin ? c.user?.login === this.options.botLogin : c.user?.type === 'Bot'),
    );
    if (ours && ours.body === text) return 'unchanged';
    if (ours) {
      await this.call('edit a comment', () =>
        this.client.rest.issues.updateComment({ ...issue, comment_id: ours.id, body: text }),
      );
      return 'updated';
    }
    await this.call('comment', () => this.client.rest.issues.createComment({ ...issue, body: text }));
    return 'created';
  }

  async setLabels(pullRequest: PullRequest, change: LabelChange): Promise<string[]> {
    const issue = { owner: this.owner, repo: this.repo, issue_number: pullRequest.number as number };
    let labels = pullRequest.labels;
    const add = (change.add ?? []).filter((l) => !labels.includes(l));
    if (add.length > 0) {
      try {
        const { data } = await this.call('add labels', () =>
          this.client.rest.issues.addLabels({ ...issue, labels: add }),
        );
        labels = data.map((l) => l.name);
      } catch (error) {
        // Labels help people sort; a pull request never fails for want of them.
        if (!isLabelRefusal(error)) throw error;
        (this.options.log ?? (() => {}))(
          `warning: labels ${add.join(', ')} not added to ${pullRequest.ref}: ${(error as Error).message}. A label that does not exist yet is created only with the App's Issues: write permission; create it by hand or grant that. The pull request stands without it.`,
        );
      }
    }
    for (const name of (change.remove ?? []).filter((l) => labels.includes(l))) {
      await this.call(`remove label ${name}`, () => this.client.rest.issues.removeLabel({ ...issue, name }));
      labels = labels.filter((l) => l !== name);
    }
    return labels;
  }

  async listFiles(pullRequest: PullRequest, prefix: string): Promise<string[]> {
    const tip = await this.git.fetchBranch(pullRequest.branch);
    return tip ? treeFiles(this.options.repoDir, tip, prefix) : [];
  }

  async mergeInfo(commit: string): Promise<MergeInfo> {
    const files = await changedFiles(this.options.repoDir, commit);
    const { data } = await this.call('find the pull request of a commit', () =>
      this.client.rest.repos.listPullRequestsAssociatedWithCommit({
        owner: this.owner,
        repo: this.repo,
        commit_sha: commit,
      }),
    );
    const merged = data.find((p) => p.merged_at);
    return { commit, files, ...(merged ? { pullRequest: toPullRequest(merged) } : {}) };
  }

  private async baseTip(base: string): Promise<string> {
    const tip = await this.git.fetchBranch(base);
    if (!tip) throw new ForgeError(`the base branch ${base} does not exist on ${this.options.remote}`);
    return tip;
  }

  private webUrl(): string {
    return `${this.options.serverUrl.replace(/\/$/, '')}/${this.owner}/${this.repo}`;
  }

  private async call<T>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw translate(error, what);
    }
  }
}

function createClient(options: GitHubForgeOptions): Client {
  const pacing = options.pacing ?? GITHUB_PACING;
  const log = options.log ?? (() => {});
  const onLimit =
    (kind: string) =>
    (retryAfter: number, request: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
      const retrying = retryCount < pacing.rateLimitRetries;
      log(
        `GitHub ${kind} on ${request.method} ${request.url}; ${retrying ? `retrying in ${retryAfter} s` : 'giving up'}`,
      );
      return retrying;
    };
  return new ThrottledOctokit({
    auth: options.token,
    baseUrl: options.apiUrl.replace(/\/$/, ''),
    userAgent: 'axiom-lab',
    log: { debug: () => {}, info: () => {}, warn: log, error: log },
    throttle: {
      onRateLimit: onLimit('rate limit'),
      onSecondaryRateLimit: onLimit('secondary rate limit'),
      retryAfterBaseValue: pacing.retryUnitMs,
      fallbackSecondaryRateRetryAfter: 60,
      write: new Bottleneck.Group({ maxConcurrent: 1, minTime: pacing.writeGapMs }),
      notifications: new Bottleneck.Group({ maxConcurrent: 1, minTime: pacing.notificationGapMs }),
    },
    retry: { retryAfterBaseValue: pacing.retryUnitMs },
  });
}

/** git authenticates to GitHub with the same token, as an HTTP header that never enters a URL or argv. */
function pushAuthEnv(options: GitHubForgeOptions): Record<string, string> {
  return tokenAuthEnv(options.serverUrl, options.token);
}

/** GitHub refusing labels (missing permission, a label it will not create), not a rate limit. */
function isLabelRefusal(error: unknown): boolean {
  if (!(error instanceof ForgeError)) return false;
  if (error.status === 404 || error.status === 422) return true;
  return error.status === 403 && /Resource not accessible/i.test(error.message);
}

function isAlreadyExists(error: unknown): boolean {
  if (!(error instanceof RequestError) || error.status !== 422) return false;
  const data = error.response?.data as { errors?: { message?: string }[] } | undefined;
  return (data?.errors ?? []).some((e) => /already exists/i.test(e.message ?? ''));
}

const STATUS_HINTS: Record<number, string> = {
  401: 'the token was refused; set GITHUB_TOKEN to a valid token',
  403: 'the token lacks permission (pull-requests: write, contents: write) or the rate limit is exhausted',
  404: 'not found, or the token cannot see this repository',
};

/** Octokit errors become ForgeErrors that say what we were doing and keep the HTTP status. */
function translate(error: unknown, what: string): Error {
  if (error instanceof ForgeError) return error;
  if (error instanceof RequestError) {
    const hint = STATUS_HINTS[error.status];
    const detail = error.message.split(' - ')[0];
    return new ForgeError(
      `GitHub refused to ${what} (HTTP ${error.status}): ${detail}${hint ? `; ${hint}` : ''}`,
      error.status,
      { cause: error },
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}
