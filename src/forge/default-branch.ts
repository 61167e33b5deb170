import { existsSync, readFileSync } from 'node:fs';
import type { Environment } from '../env/environment.js';
import { ConfigurationError } from '../errors.js';
import { GitRemote, openGit, tokenAuthEnv } from './git.js';

/** Events whose code is a pull request's: nothing that acts on BOINC may run from them. */
const PULL_REQUEST_EVENTS = new Set(['pull_request', 'pull_request_target', 'pull_request_review']);

/** The repository's default branch as the run's event payload names it; `main` when it does not. */
function defaultBranchOf(eventPath: string | undefined): string {
  if (!eventPath || !existsSync(eventPath)) return 'main';
  try {
    const event = JSON.parse(readFileSync(eventPath, 'utf8')) as {
      repository?: { default_branch?: unknown };
    };
    const name = event.repository?.default_branch;
    return typeof name === 'string' && /^[A-Za-z0-9._/-]{1,200}$/.test(name) ? name : 'main';
  } catch {
    return 'main';
  }
}

/**
 * Merging is the approval: under GitHub Actions, `deploy`, `credit apply` and `collect` act only
 * for the default branch at its tip. A manual run on another ref, a pull request's code, or a run
 * whose commit main has moved past is refused before anything changes. Outside Actions it does
 * nothing: an operator at the BOINC server's shell is trusted.
 */
export async function requireDefaultBranchTip(options: {
  command: string;
  env: Pick<Environment, 'actions' | 'forge'>;
  repoDir: string;
}): Promise<void> {
  const { actions } = options.env;
  if (!actions.running) return;
  const refuse = (why: string) =>
    new ConfigurationError(
      `${options.command} acts only for the default branch at its tip, so that merging stays the approval: ${why}; nothing was done`,
    );
  if (actions.eventName && PULL_REQUEST_EVENTS.has(actions.eventName))
    throw refuse(`this run was started by a ${actions.eventName} event`);
  const branch = defaultBranchOf(actions.eventPath);
  if (actions.ref !== `refs/heads/${branch}`)
    throw refuse(`this run is on ${actions.ref ?? 'an unknown ref'}, not refs/heads/${branch}`);
  const head = (await openGit(options.repoDir).raw(['rev-parse', 'HEAD'])).trim();
  if (actions.sha && head !== actions.sha)
    throw refuse(`the checkout is at ${head.slice(0, 12)}, not the run's commit ${actions.sha.slice(0, 12)}`);
  const { github } = options.env.forge;
  const remote = new GitRemote(
    options.repoDir,
    options.env.forge.remote,
    github.token ? tokenAuthEnv(github.serverUrl, github.token) : {},
  );
  const tip = await remote.remoteTip(branch);
  if (tip !== head)
    throw refuse(
      tip
        ? `${branch} has moved on to ${tip.slice(0, 12)} since ${head.slice(0, 12)}; the run for that commit does this work`
        : `${options.env.forge.remote} has no branch ${branch}`,
    );
}
