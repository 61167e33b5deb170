import { existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { UsageError } from '../errors.js';

export const MANIFEST_DIR = 'manifests';
export const SCRIPT_DIR = 'experiments';

/** Files to check, relative to the repository root. */
export interface Selection {
  manifests: string[];
  scripts: string[];
  /** Whether the whole repository is checked (rather than the given paths). */
  wholeRepository: boolean;
}

const isManifestFile = (name: string) => /\.ya?ml$/.test(name);
const isScriptFile = (name: string) => name.endsWith('.py');

/** Every manifest and script in the repository, or those named by `paths` (absolute), directories expanded. */
export function selectFiles(root: string, paths: readonly string[]): Selection {
  if (paths.length === 0) {
    return {
      manifests: listFiles(root, MANIFEST_DIR).filter(isManifestFile),
      scripts: listFiles(root, SCRIPT_DIR).filter(isScriptFile),
      wholeRepository: true,
    };
  }
  const manifests = new Set<string>();
  const scripts = new Set<string>();
  for (const path of paths) {
    const rel = toRepoPath(root, path);
    if (!existsSync(path)) throw new UsageError(`${rel}: no such file or directory`);
    const files = statSync(path).isDirectory() ? listFiles(root, rel) : [rel];
    const checkable = files.filter((file) => isManifestFile(file) || isScriptFile(file));
    if (checkable.length === 0 && !statSync(path).isDirectory()) {
      throw new UsageError(`${rel}: expected a manifest (.yaml) or an experiment script (.py)`);
    }
    for (const file of checkable) (isManifestFile(file) ? manifests : scripts).add(file);
  }
  return { manifests: [...manifests].sort(), scripts: [...scripts].sort(), wholeRepository: false };
}

function toRepoPath(root: string, path: string): string {
  const rel = relative(root, path);
  if (rel.startsWith('..') || isAbsolute(rel)) {
    throw new UsageError(
      `${path}: is outside the repository (${root}); run axiom from the repository or pass --root`,
    );
  }
  return rel.split(sep).join('/');
}

/** Files below `dir` (relative to root), recursively, sorted; none when the directory is missing. */
export function listFiles(root: string, dir: string): string[] {
  const absolute = join(root, dir);
  if (!existsSync(absolute)) return [];
  return (
    readdirSync(absolute, { recursive: true, withFileTypes: true })
      // Links are listed too, so that a check reports them instead of passing over them.
      .filter((entry) => entry.isFile() || entry.isSymbolicLink())
      .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/'))
      .sort()
  );
}
