import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './repo.js';

/**
 * What `npm ci` leaves in a fresh clone, without installing again: this working tree's installed
 * packages, bound read-only at the clone's node_modules, when that is exactly the tree npm ci would
 * make there. It is, when the clone's package.json and package-lock.json are byte for byte this
 * tree's, package.json agrees with the lockfile's root entry (else npm ci refuses: "can only install
 * packages when your package.json and package-lock.json are in sync"), and every package installed
 * here is the one the lockfile names (node_modules/.package-lock.json, npm's record of what it
 * installed, against package-lock.json). With --ignore-scripts no install script runs: what the
 * scripts of this tree's install left in a package (files its published tarball, in npm's cache,
 * does not hold; e.g. better-sqlite3's build/) is hidden. Without it, the root package's lifecycle
 * scripts run afterwards, in npm's order (docs.npmjs.com, "npm ci": preinstall, install,
 * postinstall, prepublish, preprepare, prepare, postprepare). Anything else (another flag, another
 * lockfile, a tarball missing from the cache) is a reason to run the real `npm ci`.
 */

export type Mount =
  | { kind: 'ro-bind'; source: string; target: string }
  /** Made to look absent: an empty directory over a directory, an empty file over a file. */
  | { kind: 'hide'; target: string; directory: boolean };

export interface InstalledTree {
  mounts: Mount[];
  /** The root package's lifecycle scripts npm ci would run, in order (none with --ignore-scripts). */
  scripts: string[];
  note: string;
}

const FLAGS = new Set(['--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline', '--offline']);
const LIFECYCLE = [
  'preinstall',
  'install',
  'postinstall',
  'prepublish',
  'preprepare',
  'prepare',
  'postprepare',
];

/** `npm ci [flags] [&& rest]`, or undefined for any other script. */
export function parseNpmCi(script: string): { flags: string[]; rest?: string } | undefined {
  const match = /^npm ci((?:[ \t]+--[a-z-]+)*)[ \t]*(?:&&[ \t]*([^\n]+))?$/.exec(script.trim());
  if (!match) return undefined;
  const flags = (match[1] ?? '').trim().split(/\s+/).filter(Boolean);
  return { flags, ...(match[2] ? { rest: match[2] } : {}) };
}

type Lock = {
  packages: Record<
    string,
    { version?: string; integrity?: string; hasInstallScript?: boolean } & Record<string, unknown>
  >;
};

const DEPENDENCY_FIELDS = ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies'];

function inSync(pkg: Record<string, unknown>, lock: Lock): boolean {
  const root = lock.packages[''] ?? {};
  return DEPENDENCY_FIELDS.every(
    (field) =>
      JSON.stringify(pkg[field] ?? {}) === JSON.stringify((root as Record<string, unknown>)[field] ?? {}),
  );
}

function sameInstalled(lock: Lock, installed: Lock): string | undefined {
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || !path.startsWith('node_modules/')) continue;
    const have = installed.packages[path];
    // Optional packages for another platform are in the lockfile, not installed.
    if (!have && entry.optional) continue;
    if (!have || have.version !== entry.version || have.integrity !== entry.integrity)
      return `${path} is not installed as the lockfile says`;
  }
  return undefined;
}

/** The file list of a package's published tarball, from npm's cache (content-v2, by integrity). */
function tarballFiles(integrity: string): Set<string> | undefined {
  const [algorithm, base64] = integrity.split('-') as [string, string];
  const hex = Buffer.from(base64, 'base64').toString('hex');
  const cache = process.env.npm_config_cache ?? join(homedir(), '.npm');
  const path = join(
    cache,
    '_cacache',
    'content-v2',
    algorithm,
    hex.slice(0, 2),
    hex.slice(2, 4),
    hex.slice(4),
  );
  if (!existsSync(path)) return undefined;
  const listing = execFileSync('tar', ['-tzf', path], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return new Set(
    listing
      .split('\n')
      .filter((l) => l !== '' && !l.endsWith('/'))
      .map((l) => l.slice(l.indexOf('/') + 1)),
  );
}

/** Paths under a package that its tarball does not hold: the topmost such directory or file. */
function leftByScripts(dir: string, files: Set<string>, prefix = ''): string[] {
  const extra: string[] = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.name === 'node_modules' && prefix === '') continue;
    if (entry.isDirectory()) {
      const held = [...files].some((f) => f.startsWith(`${path}/`));
      if (held) extra.push(...leftByScripts(dir, files, path));
      else extra.push(path);
    } else if (!files.has(path)) extra.push(path);
  }
  return extra;
}

export function installedTree(
  workspace: string,
  flags: readonly string[],
): InstalledTree | { reason: string } {
  const unknown = flags.filter((f) => !FLAGS.has(f));
  if (unknown.length) return { reason: `npm ci ${unknown.join(' ')} is not modelled` };
  for (const file of ['package.json', 'package-lock.json']) {
    const ours = join(REPO_ROOT, file);
    if (!existsSync(join(workspace, file)) || !readFileSync(join(workspace, file)).equals(readFileSync(ours)))
      return { reason: `the clone's ${file} is not this tree's` };
  }
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as Lock;
  if (!inSync(pkg, lock)) return { reason: 'package.json and package-lock.json are not in sync' };
  const record = join(REPO_ROOT, 'node_modules', '.package-lock.json');
  if (!existsSync(record)) return { reason: 'this tree has no installed packages' };
  const differs = sameInstalled(lock, JSON.parse(readFileSync(record, 'utf8')) as Lock);
  if (differs) return { reason: differs };
  const mounts: Mount[] = [
    { kind: 'ro-bind', source: join(REPO_ROOT, 'node_modules'), target: join(workspace, 'node_modules') },
  ];
  const ignoreScripts = flags.includes('--ignore-scripts');
  if (ignoreScripts)
    for (const [path, entry] of Object.entries(lock.packages)) {
      const installed = join(REPO_ROOT, path);
      if (!entry.hasInstallScript || !existsSync(installed) || !statSync(installed).isDirectory()) continue;
      const files = entry.integrity ? tarballFiles(entry.integrity) : undefined;
      if (!files) return { reason: `${path}'s tarball is not in npm's cache` };
      for (const extra of leftByScripts(installed, files))
        mounts.push({
          kind: 'hide',
          target: join(workspace, path, extra),
          directory: statSync(join(installed, extra)).isDirectory(),
        });
    }
  const scripts = ignoreScripts
    ? []
    : LIFECYCLE.filter((name) => (pkg.scripts as Record<string, string> | undefined)?.[name]);
  const hidden = mounts.filter((m) => m.kind === 'hide').length;
  return {
    mounts,
    scripts,
    note: `npm ci: this tree's installed packages (lockfile and installed tree verified), read-only at node_modules${ignoreScripts ? `, ${hidden} path${hidden === 1 ? '' : 's'} install scripts left hidden` : `, then npm run ${scripts.join(', ') || '(no lifecycle script)'}`}`,
  };
}
