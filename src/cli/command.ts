import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';

/** Where a command reads and writes; tests pass their own. */
export interface Io {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Whether stderr is a terminal (progress redraws one line) or not (progress prints plain lines). */
  isTTY: boolean;
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Shown in --help; name the value, e.g. `FILE`. */
  value?: string;
  description: string;
  multiple?: boolean;
}

export interface Command {
  name: string;
  summary: string;
  /** Positional arguments, e.g. `[paths...]`. */
  usage: string;
  description: string;
  options: Record<string, OptionSpec>;
  run(args: ParsedArgs, io: Io): Promise<number>;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', description: 'show this help' };

export function parseCommandArgs(command: Command, argv: readonly string[]): ParsedArgs {
  const options = Object.fromEntries(
    Object.entries({ ...command.options, help: HELP_OPTION }).map(([name, spec]) => [
      name,
      {
        type: spec.type,
        ...(spec.short ? { short: spec.short } : {}),
        ...(spec.multiple ? { multiple: true } : {}),
      },
    ]),
  );
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options,
      allowPositionals: true,
      strict: true,
    });
    return { values: values as ParsedArgs['values'], positionals };
  } catch (error) {
    throw new UsageError(
      `axiom ${command.name}: ${(error as Error).message.replace(/\. To specify a positional.*$/s, '')}`,
    );
  }
}

export function renderCommandHelp(command: Command): string {
  const entries = Object.entries({ ...command.options, help: HELP_OPTION });
  const labels = entries.map(
    ([name, spec]) =>
      `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.value ? ` ${spec.value}` : ''}`,
  );
  const width = Math.max(...labels.map((l) => l.length));
  return [
    `Usage: axiom ${command.name} [options] ${command.usage}`.trimEnd(),
    '',
    command.description,
    '',
    'Options:',
    ...entries.map(([, spec], i) => `  ${(labels[i] ?? '').padEnd(width)}  ${spec.description}`),
    '',
  ].join('\n');
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

export function booleanOption(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/** A string option limited to a few values; anything else is a usage error naming them. */
export function choiceOption<T extends string>(
  args: ParsedArgs,
  command: string,
  name: string,
  choices: readonly T[],
  fallback: T,
): T {
  const value = stringOption(args, name);
  if (value === undefined) return fallback;
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(
      `axiom ${command}: --${name} must be one of ${choices.join(', ')}; found "${value}"`,
    );
  }
  return value as T;
}

/** A numeric option within bounds; anything else is a usage error saying what was expected. */
export function numberOption(
  args: ParsedArgs,
  command: string,
  name: string,
  bounds: { min?: number; integer?: boolean } = {},
): number | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  const kind = bounds.integer ? 'an integer' : 'a number';
  const ok =
    text.trim() !== '' &&
    Number.isFinite(value) &&
    (!bounds.integer || Number.isInteger(value)) &&
    (bounds.min === undefined || value >= bounds.min);
  if (!ok) {
    throw new UsageError(
      `axiom ${command}: --${name} must be ${kind}${bounds.min !== undefined ? ` >= ${bounds.min}` : ''}; found "${text}"`,
    );
  }
  return value;
}
