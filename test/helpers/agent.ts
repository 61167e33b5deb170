import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AgentArgs, passOptions } from '../../src/cli/agent.js';
import { parseCommandArgs } from '../../src/cli/command.js';
import { COMMANDS } from '../../src/cli/main.js';
import { readEnvironment } from '../../src/env/environment.js';
import type { TestProject } from './boinc-project.js';
import { type Lab, makeLab } from './git.js';
import { manifestYaml, OK_SCRIPT, REPO_ROOT } from './repo.js';

/** A lab the agent follows: one experiment (three workunits), the real configuration and fleet. */
export function agentLab(): Lab {
  return makeLab({
    'manifests/mean_test.yaml': manifestYaml('mean_test'),
    'experiments/mean_test.py': OK_SCRIPT,
    'axiom.yaml': readFileSync(join(REPO_ROOT, 'axiom.yaml'), 'utf8'),
    'fleet.yaml': readFileSync(join(REPO_ROOT, 'fleet.yaml'), 'utf8'),
  });
}

/** The agent's environment on the local forge: its clone and publish directory in `scratch`. */
export function agentEnv(
  scratch: string,
  origin: string,
  project: TestProject,
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  mkdirSync(join(scratch, 'publish'), { recursive: true });
  return {
    PATH: process.env.PATH,
    HOME: scratch,
    AXIOM_FORGE: 'local',
    AXIOM_AGENT_REMOTE: origin,
    AXIOM_AGENT_DIR: join(scratch, 'agent'),
    AXIOM_DB_URL: project.db.url,
    AXIOM_BOINC_PROJECT_DIR: project.projectDir,
    AXIOM_PUBLISH_DIR: join(scratch, 'publish'),
    AXIOM_SCRIPT_BASE_URL: 'https://boinc.example.org/axiom/',
    ...extra,
  };
}

/** The options of one pass as `axiom agent` builds them from this environment and argv. */
export async function agentPassOptions(env: NodeJS.ProcessEnv, cwd: string, argv: string[] = ['--once']) {
  const args = parseCommandArgs(COMMANDS.get('agent') as never, argv) as AgentArgs;
  const io = { stdout: { write: () => true }, stderr: { write: () => true }, env: {}, cwd, isTTY: false };
  return passOptions(readEnvironment(env, cwd), io, args);
}

/**
 * One pass of the built `axiom agent --once` in its own process, killed with SIGKILL when it reaches
 * `step` (test/fixtures/agent-killed-at.mjs): how it ended, and what it wrote.
 */
export function killedAt(
  step: string,
  env: NodeJS.ProcessEnv,
  cwd: string,
  argv: string[] = [],
): Promise<{ status: number | null; signal: NodeJS.Signals | null; output: string }> {
  const script = join(REPO_ROOT, 'test/fixtures/agent-killed-at.mjs');
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [script, step, ...argv.filter((a) => a !== '--once')], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', fail);
    child.on('close', (status, signal) => done({ status, signal, output }));
  });
}
