import type { Environment } from '../env/environment.js';
import { required } from '../env/environment.js';
import type { Forge } from './forge.js';
import { DEFAULT_IDENTITY, type GitIdentity } from './git.js';
import { LocalForge } from './local.js';

export interface ForgeContext {
  settings: Environment['forge'];
  /** The local clone commits are made in. */
  repoDir: string;
  log: (line: string) => void;
}

/** The committer the environment names, else the default identity. */
export function committerOf(settings: Environment['forge']): GitIdentity {
  return {
    name: settings.committer.name ?? DEFAULT_IDENTITY.name,
    email: settings.committer.email ?? DEFAULT_IDENTITY.email,
  };
}

// GitHub's client is loaded only when it is used: it costs a noticeable share of every command's start.
const FORGES: Record<Environment['forge']['kind'], (context: ForgeContext) => Forge | Promise<Forge>> = {
  local: ({ settings, repoDir }) =>
    new LocalForge({ repoDir, remote: settings.remote, identity: committerOf(settings) }),
  github: async ({ settings, repoDir, log }) =>
    new (await import('./github.js')).GitHubForge({
      repoDir,
      remote: settings.remote,
      repository: required(settings.github.repository, 'GITHUB_REPOSITORY', 'the GitHub forge needs it'),
      token: required(settings.github.token, 'GITHUB_TOKEN', 'the GitHub forge needs it'),
      apiUrl: settings.github.apiUrl,
      serverUrl: settings.github.serverUrl,
      identity: committerOf(settings),
      ...(settings.botLogin ? { botLogin: settings.botLogin } : {}),
      identityGiven: settings.committer.name !== undefined || settings.committer.email !== undefined,
      log,
    }),
};

/** The forge AXIOM_FORGE names (`local` when unset). */
export async function openForge(context: ForgeContext): Promise<Forge> {
  return await FORGES[context.settings.kind](context);
}
