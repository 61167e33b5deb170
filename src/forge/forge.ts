import { UsageError } from '../errors.js';

/**
 * The `Forge` port: how Axiom Lab reaches people. Everything it proposes becomes a pull request;
 * the implementations are GitHub (`github.ts`) and a bare git repository (`local.ts`).
 */

/** One file of a proposal; `content: null` deletes the path. */
export interface ProposalFile {
  path: string;
  content: string | Buffer | null;
}

export interface Proposal {
  /** The head branch, `axiom/<kind>/<name>`. */
  branch: string;
  base: string;
  title: string;
  body: string;
  labels: readonly string[];
  commitMessage: string;
  files: readonly ProposalFile[];
}

export interface PullRequest {
  /** GitHub's number; the local forge has none. */
  number?: number;
  /** How to name it on the command line: `#12` on GitHub, the branch on the local forge. */
  ref: string;
  branch: string;
  base: string;
  title: string;
  body: string;
  labels: string[];
  url: string;
  state: 'open' | 'merged' | 'closed';
}

/** What opening a proposal did: `unchanged` when the branch, text and labels already matched. */
export interface OpenOutcome {
  pullRequest: PullRequest;
  action: 'created' | 'updated' | 'unchanged';
  /** The commit pushed, when the files changed. */
  commit?: string;
  /** Set when the body was too long and was committed as this file and linked. */
  bodyFile?: string;
}

export type CommentAction = 'created' | 'updated' | 'unchanged';

export interface LabelChange {
  add?: readonly string[];
  remove?: readonly string[];
}

/** What a merge commit on the base branch brought in. */
export interface MergeInfo {
  commit: string;
  files: string[];
  pullRequest?: PullRequest;
}

export interface Forge {
  /** Opens a pull request for the proposal, or brings the open one for its branch up to date. */
  openOrUpdate(proposal: Proposal): Promise<OpenOutcome>;
  findOpen(branch: string): Promise<PullRequest | undefined>;
  /** Open pull requests from this repository whose branch starts with `prefix`. */
  listOpen(prefix: string): Promise<PullRequest[]>;
  /** Pull requests from this repository closed without merging, whose branch starts with `prefix`. */
  listClosed(prefix: string): Promise<PullRequest[]>;
  /** A file's text on the pull request's branch as it is now; undefined when the branch has none. */
  readFile(pullRequest: PullRequest, path: string): Promise<string | undefined>;
  /** Finds a pull request by its command-line name (see `PullRequest.ref`). */
  get(ref: string): Promise<PullRequest>;
  /** One comment per purpose, found again by a hidden marker and edited in place. */
  upsertComment(pullRequest: PullRequest, purpose: string, body: string): Promise<CommentAction>;
  setLabels(pullRequest: PullRequest, change: LabelChange): Promise<string[]>;
  /** Paths under `prefix` on the pull request's branch as it is now. */
  listFiles(pullRequest: PullRequest, prefix: string): Promise<string[]>;
  /** What the given commit on the base branch brought in, and the pull request it merged. */
  mergeInfo(commit: string): Promise<MergeInfo>;
}

/** A pull request closed without merging is a person's "no": proposed again only with this label. */
export const REOPEN_LABEL = 'axiom:reopen';

/** GitHub refuses pull request bodies and comments longer than this many characters. */
export const GITHUB_BODY_LIMIT = 65_536;

const PURPOSE = /^[a-z][a-z0-9-]{0,39}$/;

/** The hidden first line that identifies a comment's purpose, e.g. `<!-- axiom:plan -->`. */
export function commentMarker(purpose: string): string {
  if (!PURPOSE.test(purpose))
    throw new UsageError(`comment purpose "${purpose}" must match ${PURPOSE.source}`);
  return `<!-- axiom:${purpose} -->`;
}

const BRANCH = /^axiom\/[a-z0-9][a-z0-9._/-]{0,200}$/;

/** Pull request branches are `axiom/...` with plain characters, so they are safe in git and URLs. */
export function checkBranchName(branch: string): string {
  if (!BRANCH.test(branch) || branch.includes('..') || branch.endsWith('/') || branch.endsWith('.lock'))
    throw new UsageError(
      `branch "${branch}" must be axiom/ followed by lowercase letters, digits, ".", "_", "-" and "/"`,
    );
  return branch;
}
