import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AssimilateSetup } from '../assimilate/setup.js';
import { type Daemon, optionOf, programOf, readDaemons, shellWords } from '../boinc/daemons.js';
import { runProcess } from '../process.js';

/**
 * Whether BOINC will hand results to us: config.xml runs a validator and `script_assimilator --app
 * APP --script NAME` (no token list: servers 1.6.1 and later call a script with tokens with no
 * arguments at all), `bin/NAME` is there and executable, and run as the daemon runs it (from cron,
 * `PATH=/usr/bin:/bin`, nothing else in its environment) `bin/NAME --check --json` answers from this
 * installation, into the spool the agent collects from, with nothing in the way. The agent cannot
 * become the daemon's user, so whether that user may write the spool is checked only as far as the
 * agent's own rights go.
 */
export interface AssimilatorExpectation {
  projectDir: string;
  app: string;
  spoolDir: string;
  /** This installation, which bin/axiom_assimilate should run. */
  home: string;
}

export interface AssimilatorCheck {
  ok: boolean;
  /** What was found, one line each; problems say what to change. */
  lines: string[];
}

/** cron's PATH, which BOINC's daemons inherit from `bin/start --cron`. */
export const DAEMON_PATH = '/usr/bin:/bin';

function forApp(daemons: Daemon[], app: string, program: (name: string) => boolean): Daemon[] {
  return daemons.filter((d) => !d.disabled && program(programOf(d)) && optionOf(d.argv, 'app') === app);
}

/** The script the assimilator daemon runs, or the problems that stop it. */
function assimilatorScript(config: string, app: string): { script?: string; problems: string[] } {
  const daemons = readDaemons(config);
  const problems: string[] = [];
  if (forApp(daemons, app, (p) => p.endsWith('validator')).length === 0)
    problems.push(
      `config.xml runs no validator for app ${app}: no result becomes canonical, so none is assimilated (add <daemon><cmd>sample_trivial_validator --app ${app} --no_credit</cmd></daemon>)`,
    );
  const assimilators = forApp(daemons, app, (p) => p === 'script_assimilator');
  const words = shellWords(optionOf(assimilators[0]?.argv ?? [], 'script') ?? '');
  if (words.length === 0) {
    problems.push(
      `config.xml runs no script_assimilator for app ${app} (add <daemon><cmd>script_assimilator --app ${app} --script axiom_assimilate</cmd></daemon>)`,
    );
    return { problems };
  }
  if (words.length > 1)
    problems.push(
      `script_assimilator's --script "${words.join(' ')}" has a token list: servers 1.6.1 and later then call the script with no arguments; use --script ${words[0]}`,
    );
  return { script: words[0], problems };
}

/** Runs the installed script as the daemon would, and reads its answer. */
async function askScript(path: string, projectDir: string): Promise<AssimilateSetup | string> {
  const run = await runProcess(path, ['--check', '--json'], {
    cwd: projectDir,
    env: { PATH: DAEMON_PATH },
    timeoutMs: 60_000,
    notFound: () => new Error(`${path} does not exist`),
  }).catch((error: Error) => error.message);
  if (typeof run === 'string') return run;
  const last = run.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(last) as AssimilateSetup;
  } catch {
    const said = (run.stderr.trim() || run.stdout.trim()).split('\n').at(-1) ?? '';
    return `it did not answer (exit ${run.code}${said ? `: ${said}` : ''})`;
  }
}

function samePath(a: string, b: string): boolean {
  const real = (p: string) => (existsSync(p) ? realpathSync(p) : p);
  return real(a) === real(b);
}

export async function checkAssimilator(expected: AssimilatorExpectation): Promise<AssimilatorCheck> {
  const configPath = join(expected.projectDir, 'config.xml');
  if (!existsSync(configPath)) return { ok: false, lines: [`${configPath} does not exist`] };
  const { script, problems } = assimilatorScript(readFileSync(configPath, 'utf8'), expected.app);
  const lines: string[] = [];
  if (script) {
    const path = join(expected.projectDir, 'bin', script);
    const mode = existsSync(path) ? statSync(path).mode : undefined;
    if (mode === undefined)
      problems.push(`${path} does not exist: install scripts/boinc/axiom_assimilate there`);
    else if ((mode & 0o111) === 0) problems.push(`${path} is not executable (chmod 755 it)`);
    else {
      const answer = await askScript(path, expected.projectDir);
      if (typeof answer === 'string')
        problems.push(
          `bin/${script} does not start as the daemon starts it (PATH=${DAEMON_PATH}): ${answer}; set AXIOM_NODE and AXIOM_HOME in it to full paths`,
        );
      else {
        lines.push(
          `bin/${script} runs Axiom Lab ${answer.version} at ${answer.home} under ${answer.node}, into ${answer.spoolDir ?? '(no spool)'}`,
        );
        problems.push(...answer.problems);
        if (!samePath(answer.home, expected.home))
          problems.push(
            `bin/${script} runs the installation at ${answer.home}, the agent ${expected.home}: set AXIOM_HOME in it to ${expected.home}`,
          );
        if (answer.spoolDir && !samePath(answer.spoolDir, expected.spoolDir))
          problems.push(
            `bin/${script} writes results to ${answer.spoolDir}, but the agent collects from ${expected.spoolDir}: set AXIOM_SPOOL_DIR in it to ${expected.spoolDir}`,
          );
      }
    }
  }
  return { ok: problems.length === 0, lines: [...lines, ...problems.map((p) => `problem: ${p}`)] };
}
