import { lstatSync, realpathSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { Problem } from '../problems.js';

/** Manifests and scripts are small: anything larger is refused unread (the client refuses such a script too). */
export const MAX_CHECKED_BYTES = 1024 * 1024;

/**
 * Why a file of the repository may not be read by a check: a symlink that leads outside the
 * repository, not a regular file, or too large. Undefined when it may be read; nothing is read here.
 */
export function unreadableReason(
  root: string,
  file: string,
  maxBytes = MAX_CHECKED_BYTES,
): string | undefined {
  const absolute = join(root, file);
  let real: string;
  try {
    real = realpathSync(absolute);
  } catch {
    return lstatSync(absolute, { throwIfNoEntry: false }) ? 'a symlink to nothing' : undefined;
  }
  const realRoot = realpathSync(root);
  if (real !== realRoot && !real.startsWith(realRoot + sep))
    return `a symlink that leads outside the repository (to ${real}); it is not read`;
  const stat = statSync(real);
  if (!stat.isFile()) return 'not a regular file';
  if (stat.size > maxBytes) return `larger than ${maxBytes} bytes (${stat.size}); it is not read`;
  return undefined;
}

/** The problem of a file that may not be read, or none. */
export function fileProblem(root: string, file: string): Problem | undefined {
  const reason = unreadableReason(root, file);
  return reason ? { file, rule: 'file', message: reason, severity: 'error' } : undefined;
}
