import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { SpoolEntry } from '../boinc/assimilate.js';
import type { Problem } from '../problems.js';

/** What the workunit name tells: `axm_<experiment>_<script sha prefix>_h<host>_r<replica>`. */
export interface WorkunitRef {
  name: string;
  experiment: string;
  scriptSha: string;
  host: number;
  replica: number;
}

const WORKUNIT = /^axm_([a-z][a-z0-9_]{2,47})_([0-9a-f]{12})_h([0-9]+)_r([0-9]+)$/;

export function parseWorkunitName(name: string): WorkunitRef | undefined {
  const match = WORKUNIT.exec(name);
  if (!match) return undefined;
  return {
    name,
    experiment: match[1] as string,
    scriptSha: match[2] as string,
    host: Number(match[3]),
    replica: Number(match[4]),
  };
}

/** One result waiting to be judged: the spool entry and what its workunit name says. */
export interface Incoming {
  resultId: number;
  file: string;
  /** Bytes of the spool entry as stored. */
  bytes: number;
  entry: SpoolEntry;
  workunit: WorkunitRef;
}

export interface Intake {
  incoming: Incoming[];
  /** Results already in the record or in the open results pull request. */
  skipped: number;
  problems: Problem[];
}

/** Spool entries are written by `axiom assimilate`; anything bigger than this is not ours. */
const MAX_SPOOL_BYTES = 8 * 1024 * 1024;

/**
 * Reads the spool: one entry per result, in result id order, leaving out workunit-level errors
 * (no result to judge) and results already collected (`known`).
 */
export function readSpool(spoolDir: string, known: ReadonlySet<number>): Intake {
  const intake: Intake = { incoming: [], skipped: 0, problems: [] };
  if (!existsSync(spoolDir)) return intake;
  for (const name of readdirSync(spoolDir)) {
    const match = /^(.+)__([0-9]{1,12})\.json$/.exec(name);
    if (!match) continue;
    const resultId = Number(match[2]);
    if (known.has(resultId)) {
      intake.skipped += 1;
      continue;
    }
    const file = join(spoolDir, name);
    const problem = (message: string) =>
      intake.problems.push({ file: name, rule: 'spool', message, severity: 'warning' });
    const bytes = statSync(file).size;
    if (bytes > MAX_SPOOL_BYTES) {
      problem(`larger than ${MAX_SPOOL_BYTES} bytes; left in the spool`);
      continue;
    }
    let entry: SpoolEntry;
    try {
      entry = JSON.parse(readFileSync(file, 'utf8')) as SpoolEntry;
    } catch {
      problem('not valid JSON; left in the spool');
      continue;
    }
    const workunit = parseWorkunitName(match[1] as string);
    if (
      !workunit ||
      entry.kind !== 'result' ||
      entry.result_id !== resultId ||
      entry.wu_name !== workunit.name
    ) {
      problem('not a result of an Axiom Lab workunit (the name and content disagree); left in the spool');
      continue;
    }
    intake.incoming.push({ resultId, file: name, bytes, entry, workunit });
  }
  intake.incoming.sort((a, b) => a.resultId - b.resultId);
  return intake;
}
