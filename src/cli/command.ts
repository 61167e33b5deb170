import { parseArgs } from 'node:util';
import type { Environment } from '../env/environment.js';
import { UsageError } from '../errors.js';

/** Where a command reads and writes; tests pass their own. */
export interface Io {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** The process environment as given; commands read it only through `Context.env`. */
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Whether stderr is a terminal (progress redraws one line) or not (progress prints plain lines). */
  isTTY: boolean;
}

/** What a command runs with: its I/O and the environment, read and validated once. */
export interface Context {
  io: Io;
  env: Environment;
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Shown in --help; name the value, e.g. `FILE`. */
  value?: string;
  description: string;
  multiple?: boolean;
}

export type OptionSpecs = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S['type'] extends 'boolean'
  ? boolean
  : S['multiple'] extends true
    ? string[]
    : string;

/** The parsed command line, typed by the options the command declares: an undeclared flag does not compile. */
export interface ParsedArgs<O extends OptionSpecs = OptionSpecs> {
  values: { [K in keyof O]?: ValueOf<O[K]> };
  positionals: string[];
}

type NamesOf<O extends OptionSpecs, T extends OptionSpec['type']> = {
  [K in keyof O]: O[K]['type'] extends T ? K : never;
}[keyof O] &
  string;

export interface CommandSpec<O extends OptionSpecs> {
  name: string;
  summary: string;
  /** Positional arguments, e.g. `[paths...]`. */
  usage: string;
  description: string;
  options: O;
  run(args: ParsedArgs<O>, context: Context): Promise<number>;
}

/** A command as the registry holds it, whatever its options. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  description: string;
  options: OptionSpecs;
  run(args: ParsedArgs, context: Context): Promise<number>;
}

/** Declares a command; its options type its arguments. */
export function defineCommand<const O extends OptionSpecs>(spec: CommandSpec<O>): Command {
  return spec as unknown as Command;
}

const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', description: 'show this help' };

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number;
      row[j] = Math.min(current + 1, (row[j - 1] as number) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] as number;
}

/** The closest of `choices` to `word`, when it is close enough to be what was meant. */
export function closest(word: string, choices: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const choice of choices) {
    const d = distance(word, choice);
    if (d < bestDistance) {
      best = choice;
      bestDistance = d;
    }
  }
  return best;
}

function unknownOptionMessage(command: Command, message: string): string {
  const option = /Unknown option '(-{1,2}[^']+)'/.exec(message)?.[1];
  if (!option) return message.replace(/\. To specify a positional.*$/s, '').replace(/\.$/, '');
  const names = Object.keys({ ...command.options, help: HELP_OPTION });
  const guess = closest(option.replace(/^-+/, ''), names);
  return `unknown option ${option}${guess ? `; did you mean --${guess}?` : ''}`;
}

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
    const raw = (error as Error).message;
    const missing = /Option '(-{1,2}[^']+?)(?: <value>)?' argument missing/.exec(raw)?.[1];
    const ambiguous = /Option '(-{1,2}[^']+?)(?: <value>)?' argument is ambiguous/.exec(raw)?.[1];
    const message = missing
      ? `${missing} needs a value`
      : ambiguous
        ? `${ambiguous} needs a value; a value that starts with "-" is written ${ambiguous}=-5`
        : unknownOptionMessage(command, raw);
    throw new UsageError(`${command.name}: ${message}`, command.name);
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

export function stringOption<O extends OptionSpecs>(
  args: ParsedArgs<O>,
  name: NamesOf<O, 'string'>,
): string | undefined {
  const value: unknown = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

export function booleanOption<O extends OptionSpecs>(
  args: ParsedArgs<O>,
  name: NamesOf<O, 'boolean'>,
): boolean {
  return args.values[name] === true;
}

/** A string option limited to a few values; anything else is a usage error naming them. */
export function choiceOption<O extends OptionSpecs, T extends string>(
  args: ParsedArgs<O>,
  command: string,
  name: NamesOf<O, 'string'>,
  choices: readonly T[],
  fallback: T,
): T {
  const value = stringOption(args, name);
  if (value === undefined) return fallback;
  if (!(choices as readonly string[]).includes(value)) {
    const guess = closest(value, choices);
    throw new UsageError(
      `${command}: --${name} must be one of ${choices.join(', ')}; found "${value}"${guess ? ` (did you mean ${guess}?)` : ''}`,
      command,
    );
  }
  return value as T;
}

/** A numeric option within bounds; anything else is a usage error saying what was expected. */
export function numberOption<O extends OptionSpecs>(
  args: ParsedArgs<O>,
  command: string,
  name: NamesOf<O, 'string'>,
  bounds: { min?: number; integer?: boolean } = {},
): number | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  const kind = bounds.integer ? 'a whole number' : 'a number';
  const ok =
    text.trim() !== '' &&
    Number.isFinite(value) &&
    (!bounds.integer || Number.isInteger(value)) &&
    (bounds.min === undefined || value >= bounds.min);
  if (!ok) {
    throw new UsageError(
      `${command}: --${name} must be ${kind}${bounds.min !== undefined ? ` of at least ${bounds.min}` : ''}; found "${text}"`,
      command,
    );
  }
  return value;
}
