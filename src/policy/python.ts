import { existsSync } from 'node:fs';

/** The Python interpreter for scripts: AXIOM_PYTHON, else Debian's /usr/bin/python3, else python3 on PATH. */
export function resolvePython(env: NodeJS.ProcessEnv): string {
  if (env.AXIOM_PYTHON) return env.AXIOM_PYTHON;
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}
