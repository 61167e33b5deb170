import { existsSync, mkdirSync } from 'node:fs';
import { ConfigurationError, ForgeError } from '../errors.js';
import { GitRemote, gitMessage, openGit } from '../forge/git.js';

/**
 * The agent's own clone, which follows one branch of the origin and nothing else: it fetches only
 * that branch (never a pull request's ref, never another branch), checks out exactly the commit it
 * fetched, and keeps nothing in the work tree that the commit does not hold. Symlinks are checked
 * out as plain files (core.symlinks false), so no path of the checkout leads outside it.
 */
export class MainBranch {
  private readonly remote: GitRemote;

  constructor(
    readonly dir: string,
    readonly url: string,
    readonly branch: string,
    transportEnv: Record<string, string> = {},
  ) {
    this.remote = new GitRemote(dir, 'origin', transportEnv);
  }

  /** Makes the clone on the first pass: an empty repository whose only remote is the origin. */
  async prepare(): Promise<void> {
    if (existsSync(`${this.dir}/.git`)) {
      const url = (await openGit(this.dir).raw(['remote', 'get-url', 'origin'])).trim();
      if (url !== this.url)
        throw new ConfigurationError(
          `the agent's clone ${this.dir} follows ${url}, not ${this.url}; move it away to start afresh`,
        );
      return;
    }
    mkdirSync(this.dir, { recursive: true });
    const git = openGit(this.dir);
    await git.raw(['init', '--quiet']);
    await git.raw(['remote', 'add', 'origin', this.url]);
    // No default refspec: a fetch updates the one ref it names, nothing else.
    await git.raw(['config', '--unset-all', 'remote.origin.fetch']);
    const settings: [string, string][] = [
      ['core.symlinks', 'false'],
      ['fetch.recurseSubmodules', 'false'],
    ];
    for (const [key, value] of settings) await git.raw(['config', key, value]);
  }

  /** The branch's commit on the origin now, without fetching. */
  async remoteTip(): Promise<string> {
    const tip = await this.remote.remoteTip(this.branch);
    if (!tip) throw new ForgeError(`the origin ${this.url} has no branch ${this.branch}`);
    return tip;
  }

  /** Fetches the branch (and only it) and returns the commit fetched. */
  async fetch(): Promise<string> {
    const tip = await this.remote.fetchBranch(this.branch);
    if (!tip) throw new ForgeError(`the origin ${this.url} has no branch ${this.branch}`);
    return tip;
  }

  /** Whether `older` is in the history of `newer` (main moved forward, not rewritten). */
  async descends(older: string, newer: string): Promise<boolean> {
    try {
      await openGit(this.dir).raw(['merge-base', '--is-ancestor', older, newer]);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Puts exactly `commit` in the work tree: a detached, forced checkout, then everything the commit
   * does not hold removed (ignored files too), and both verified.
   */
  async checkout(commit: string): Promise<void> {
    const git = openGit(this.dir);
    try {
      await git.raw(['checkout', '--quiet', '--force', '--detach', commit]);
      await git.raw(['clean', '-ffdxq']);
    } catch (error) {
      throw new ForgeError(`cannot check out ${commit.slice(0, 12)} in ${this.dir}: ${gitMessage(error)}`);
    }
    const head = (await git.raw(['rev-parse', 'HEAD'])).trim();
    const dirty = (await git.raw(['status', '--porcelain', '--ignored'])).trim();
    if (head !== commit || dirty !== '')
      throw new ForgeError(
        `the agent's work tree ${this.dir} is not exactly ${commit.slice(0, 12)} after checkout (HEAD ${head.slice(0, 12)}${dirty ? `, changed: ${dirty.split('\n')[0]}` : ''})`,
      );
  }
}
