import { readEnvironment } from '../env/environment.js';
import { AxiomError, InvalidInputError, ToolError, UsageError } from '../errors.js';
import { installedVersion } from '../installation.js';
import { formatProblem } from '../problems.js';
import { agentCommand } from './agent.js';
import { appCommand } from './app.js';
import { assimilateCommand } from './assimilate.js';
import { checkCommand } from './check.js';
import { collectCommand } from './collect.js';
import { type Command, closest, type Io, parseCommandArgs, renderCommandHelp } from './command.js';
import { creditCommand } from './credit.js';
import { demoCommand } from './demo.js';
import { deployCommand } from './deploy.js';
import { fleetCommand } from './fleet.js';
import { migrateCommand } from './migrate.js';
import { plotsCommand } from './plots.js';
import { prCommand } from './pr.js';
import { proposeCommand } from './propose.js';
import { runCommand } from './run.js';
import { siteCommand } from './site.js';

/** Every command, by name. */
export const COMMANDS: ReadonlyMap<string, Command> = new Map(
  [
    checkCommand,
    runCommand,
    fleetCommand,
    deployCommand,
    assimilateCommand,
    collectCommand,
    creditCommand,
    proposeCommand,
    prCommand,
    plotsCommand,
    migrateCommand,
    siteCommand,
    demoCommand,
    appCommand,
    agentCommand,
  ].map((c) => [c.name, c]),
);

function renderHelp(): string {
  const width = Math.max(...[...COMMANDS.keys()].map((n) => n.length));
  return [
    'Usage: axiom <command> [options]',
    '',
    'Axiom Lab runs a BOINC volunteer-computing project as a research lab through git.',
    '',
    'Commands:',
    ...[...COMMANDS.values()].map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run `axiom <command> --help` for a command's options.",
    '',
  ].join('\n');
}

function findCommand(name: string): Command {
  const command = COMMANDS.get(name);
  if (command) return command;
  const guess = closest(name, [...COMMANDS.keys()]);
  throw new UsageError(
    `unknown command "${name}"${guess ? `; did you mean "${guess}"?` : ''} Commands: ${[...COMMANDS.keys()].join(', ')}`,
  );
}

/** Runs the command line; the only place that decides exit codes (0 ok, 1 failure, 2 usage). */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  let prefix = 'axiom';
  try {
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      const topic = name === 'help' && rest[0] ? findCommand(rest[0]) : undefined;
      io.stdout.write(topic ? renderCommandHelp(topic) : renderHelp());
      return name === undefined ? 2 : 0;
    }
    if (name === '--version' || name === '-V') {
      io.stdout.write(`${installedVersion()}\n`);
      return 0;
    }
    const command = findCommand(name);
    prefix = `axiom ${command.name}`;
    const args = parseCommandArgs(command, rest);
    if ((args.values as Record<string, unknown>).help === true) {
      io.stdout.write(renderCommandHelp(command));
      return 0;
    }
    return await command.run(args, { io, env: readEnvironment(io.env, io.cwd) });
  } catch (error) {
    return reportError(error, io, prefix);
  }
}

function reportError(error: unknown, io: Io, prefix: string): number {
  if (error instanceof UsageError) {
    const help = error.command ? `axiom ${error.command} --help` : 'axiom --help';
    io.stderr.write(`${prefix}: ${error.message.replace(/^[a-z]+: /, '')}\nRun \`${help}\` for usage.\n`);
    return 2;
  }
  if (error instanceof InvalidInputError) {
    io.stderr.write(
      `${prefix}: ${error.message}\n${error.problems.map((p) => `  ${formatProblem(p)}\n`).join('')}`,
    );
    return 1;
  }
  if (error instanceof ToolError) {
    io.stderr.write(`${prefix}: ${error.message}\n${error.details ? `${error.details}\n` : ''}`);
    return 1;
  }
  if (error instanceof AxiomError) {
    io.stderr.write(`${prefix}: ${error.message}\n`);
    return 1;
  }
  io.stderr.write(`${prefix}: internal error: ${(error as Error)?.stack ?? String(error)}\n`);
  return 1;
}

export function processIo(): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    isTTY: Boolean(process.stderr.isTTY),
  };
}
