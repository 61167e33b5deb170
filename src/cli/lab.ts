import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigurationError } from '../errors.js';

/** What makes a directory an Axiom lab: any one of these at its top. */
const LAB_MARKS = ['axiom.yaml', 'manifests', 'fleet.yaml'] as const;

function isLab(dir: string): boolean {
  return LAB_MARKS.some((mark) => existsSync(join(dir, mark)));
}

/**
 * The lab a command works on: `--root` when given (which must be a lab), else the current
 * directory or the nearest parent that is one, as git finds its repository. Anywhere else is an
 * error that says what a lab is and how to get one, instead of a command that reads nothing or
 * writes into a stranger's directory.
 */
export function labRoot(cwd: string, rootOption: string | undefined, command: string): string {
  if (rootOption !== undefined) {
    const root = resolve(cwd, rootOption);
    if (!isLab(root)) throw notALab(root, command, false);
    return root;
  }
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (isLab(dir)) return dir;
    if (dirname(dir) === dir) throw notALab(resolve(cwd), command, true);
  }
}

function notALab(dir: string, command: string, parents: boolean): ConfigurationError {
  return new ConfigurationError(
    `${dir}${parents ? ' (nor any directory above it)' : ''} is not an Axiom lab: it has no ${LAB_MARKS.join(', ')}. ` +
      `Run axiom ${command} in a clone of a lab repository or pass --root DIR; \`axiom demo\` makes a lab to try.`,
  );
}
