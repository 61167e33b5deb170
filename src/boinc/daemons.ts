/**
 * The daemons a BOINC project's config.xml runs (`<daemons><daemon><cmd>…</cmd></daemon>`), as BOINC's
 * `bin/start` reads them (sched/start): a `<daemon>` with a `<disabled>` element is not started; the
 * command line is split on white space, or handed to `/bin/sh -c` when it holds quotes, a backslash,
 * `|` or `>`, so quotes group words as a shell does. The program is found in the project's bin/ and
 * runs from the project's log directory.
 */
export interface Daemon {
  /** The command line as written. */
  cmd: string;
  /** Its words, quotes removed. */
  argv: string[];
  disabled: boolean;
}

/** Splits a command line into words as /bin/sh does for plain words and quoted ones. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (const c of line) {
    if (quote) {
      if (c === quote) quote = undefined;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else word = (word ?? '') + c;
  }
  if (word !== undefined) words.push(word);
  return words;
}

export function readDaemons(config: string): Daemon[] {
  const section = /<daemons>([\s\S]*?)<\/daemons>/.exec(config)?.[1] ?? '';
  return [...section.matchAll(/<daemon>([\s\S]*?)<\/daemon>/g)].map((m) => {
    const body = m[1] as string;
    const cmd = (/<cmd>([\s\S]*?)<\/cmd>/.exec(body)?.[1] ?? '').trim();
    return { cmd, argv: shellWords(cmd), disabled: /<disabled\b/.test(body) };
  });
}

/** The value of `--name` (or `-name`, which BOINC's daemons take too) in a daemon's words. */
export function optionOf(argv: readonly string[], name: string): string | undefined {
  const at = argv.findIndex((word) => word === `--${name}` || word === `-${name}`);
  return at >= 0 ? argv[at + 1] : undefined;
}

/** The program's file name, without the directory. */
export function programOf(daemon: Daemon): string {
  return (daemon.argv[0] ?? '').split('/').pop() ?? '';
}
