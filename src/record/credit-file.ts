import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Problem } from '../problems.js';
import { readRegularFile } from '../read-file.js';
import type { SchemaValidator } from '../schema/validate.js';
import { type LocatedDocument, type Position, parseYaml } from '../yaml/document.js';
import { CREDIT_DIR } from './layout.js';
import type { ResultIdentity, Verdict } from './review.js';

/**
 * A credit file is one batch's: a collection run of tens of thousands of results is split into
 * pull requests GitHub shows whole (at most 1 MB of diff each, collect/batches.ts), so a batch's
 * credit file is about 100 kB (some 500 entries). Reading YAML with positions takes some hundred
 * times a file's size in memory while it is parsed, so the bound is kept close to what is real.
 */
export const MAX_CREDIT_FILE_BYTES = 1024 * 1024;

export interface CreditEntry extends ResultIdentity {
  verdict: Verdict;
  quality: number;
  credit: number;
}

export interface CreditFile {
  run: string;
  /** The batch of the run; absent in files written before batches. */
  batch?: string;
  judged_by?: string;
  entries: CreditEntry[];
}

/** An entry with where it is written, so every finding about it can point at the line. */
export interface LocatedEntry {
  entry: CreditEntry;
  file: string;
  line: number;
  column: number;
  /** Locates a key of this entry, e.g. `credit`. */
  at(key: keyof CreditEntry): { line: number; column: number };
}

export interface ReadCredit {
  /** Entries that passed the schema, in file and then entry order. */
  entries: LocatedEntry[];
  /** Everything refused, each at its file and line. */
  problems: Problem[];
  files: string[];
}

const ENTRY_PATH = /^entries\[(\d+)\]/;

/** Every credit file on this checkout, validated; a bad entry is refused alone, the rest stand. */
export function readCreditFiles(root: string, validator: SchemaValidator): ReadCredit {
  const dir = join(root, CREDIT_DIR);
  const files = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.yaml'))
        .sort()
        .map((f) => `${CREDIT_DIR}/${f}`)
    : [];
  const read: ReadCredit = { entries: [], problems: [], files };
  for (const file of files) readOne(root, file, validator, read);
  return read;
}

function readOne(root: string, file: string, validator: SchemaValidator, into: ReadCredit): void {
  const read = readRegularFile(join(root, file), MAX_CREDIT_FILE_BYTES);
  if ('refused' in read) {
    into.problems.push(refusedFile(file, read.refused));
    return;
  }
  const { document, problems } = parseYaml(file, read.bytes.toString('utf8'), {
    maxBytes: MAX_CREDIT_FILE_BYTES,
  });
  into.problems.push(...problems);
  if (!document) return;
  const schemaProblems = validator.validate('credit', document);
  into.problems.push(...schemaProblems);
  const badEntries = new Set<number>();
  for (const problem of schemaProblems) {
    const match = ENTRY_PATH.exec(problem.path ?? '');
    // A problem outside any one entry (no `entries` list, an unknown top-level key) refuses the file.
    if (!match) return;
    badEntries.add(Number(match[1]));
  }
  // Positions are taken now, so that the parsed document (many times the file's size) is let go.
  const data = document.data as CreditFile;
  data.entries.forEach((entry, index) => {
    if (!badEntries.has(index)) into.entries.push(locate(document, file, entry, index));
  });
}

function refusedFile(file: string, refused: string): Problem {
  return {
    file,
    line: 1,
    column: 1,
    rule: 'credit/file',
    message: `${refused}; expected a credit file: a regular YAML file of at most ${MAX_CREDIT_FILE_BYTES} bytes, one batch's as collect writes it`,
    severity: 'error',
  };
}

function locate(document: LocatedDocument, file: string, entry: CreditEntry, index: number): LocatedEntry {
  const { line, column } = document.locate(['entries', index]);
  const keys = new Map<string, Position>(
    Object.keys(entry).map((key) => [key, document.locate(['entries', index, key])]),
  );
  return {
    entry,
    file,
    line,
    column,
    at: (key) => keys.get(key) ?? { line, column },
  };
}
