import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach } from 'vitest';

const created: string[] = [];
afterEach(() => {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
});

export const PERSON = { name: 'Ada Reviewer', email: 'ada@example.org' };

/** Runs git with a fixed identity and no user configuration; returns trimmed stdout. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      HOME: cwd,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: PERSON.name,
      GIT_AUTHOR_EMAIL: PERSON.email,
      GIT_COMMITTER_NAME: PERSON.name,
      GIT_COMMITTER_EMAIL: PERSON.email,
    },
  }).trim();
}

export interface Lab {
  root: string;
  /** The bare repository every clone pushes to. */
  origin: string;
  /** A working clone on main, with user.name/email configured. */
  clone: string;
}

/** A bare origin with `files` committed on main, and a clone of it. */
export function makeLab(files: Record<string, string> = { 'README.md': '# lab\n' }): Lab {
  const root = mkdtempSync(join(tmpdir(), 'axiom-lab-'));
  created.push(root);
  const origin = join(root, 'origin.git');
  const clone = join(root, 'clone');
  git(root, 'init', '--quiet', '--bare', '--initial-branch=main', origin);
  git(root, 'clone', '--quiet', origin, clone);
  git(clone, 'checkout', '--quiet', '-B', 'main');
  git(clone, 'config', 'user.name', PERSON.name);
  git(clone, 'config', 'user.email', PERSON.email);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(clone, path)), { recursive: true });
    writeFileSync(join(clone, path), text);
  }
  git(clone, 'add', '.');
  git(clone, 'commit', '--quiet', '-m', 'Initial commit');
  git(clone, 'push', '--quiet', 'origin', 'main');
  return { root, origin, clone };
}

/** A file's text on a branch of the origin, or undefined. */
export function showFile(repo: string, branch: string, path: string): string | undefined {
  try {
    return git(repo, 'show', `${branch}:${path}`);
  } catch {
    return undefined;
  }
}
