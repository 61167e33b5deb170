import { ConfigurationError } from '../errors.js';
import type { Forge } from './forge.js';
import { identityFromEnv } from './git.js';
import { LocalForge } from './local.js';

export interface ForgeContext {
  env: NodeJS.ProcessEnv;
  /** The local clone commits are made in. */
  repoDir: string;
  log: (line: string) => void;
}

function required(env: NodeJS.ProcessEnv, name: string, example: string): string {
  const value = env[name];
  if (!value) throw new ConfigurationError(`${name} is not set; the GitHub forge needs it, e.g. ${example}`);
  return value;
}

// GitHub's client is loaded only when it is used: it costs a noticeable share of every command's start.
const FORGES: Record<string, (context: ForgeContext) => Forge | Promise<Forge>> = {
  local: ({ env, repoDir }) =>
    new LocalForge({ repoDir, remote: env.AXIOM_GIT_REMOTE || 'origin', identity: identityFromEnv(env) }),
  github: async ({ env, repoDir, log }) =>
    new (await import('./github.js')).GitHubForge({
      repoDir,
      remote: env.AXIOM_GIT_REMOTE || 'origin',
      repository: required(env, 'GITHUB_REPOSITORY', 'axiom-lab/research'),
      token: required(env, 'GITHUB_TOKEN', 'a GitHub App installation token'),
      apiUrl: env.GITHUB_API_URL || 'https://api.github.com',
      serverUrl: env.GITHUB_SERVER_URL || 'https://github.com',
      identity: identityFromEnv(env),
      log,
    }),
};

export const FORGE_KINDS = Object.keys(FORGES);

/** The forge AXIOM_FORGE names (`local` when unset). */
export async function openForge(context: ForgeContext): Promise<Forge> {
  const kind = context.env.AXIOM_FORGE || 'local';
  const create = FORGES[kind];
  if (!create)
    throw new ConfigurationError(`AXIOM_FORGE is "${kind}"; expected one of ${FORGE_KINDS.join(', ')}`);
  return await create(context);
}
