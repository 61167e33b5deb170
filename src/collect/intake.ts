import { existsSync, lstatSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomically } from '../atomic-write.js';
import { sanitiseEnvelope } from '../envelope/envelope.js';
import { describeJsonError, parseStrictJson } from '../envelope/json.js';
import { environmentOf } from '../envelope/report.js';
import type { SpoolClient, SpoolEntry } from '../envelope/spool.js';
import type { Problem } from '../problems.js';
import { readRegularFile } from '../read-file.js';
import type { SchemaValidator } from '../schema/validate.js';
import type { WorkunitInput } from '../workunit/input.js';
import { type WorkunitId, WorkunitName } from '../workunit/name.js';

/** One result waiting to be judged: the spool entry and what its workunit name says. */
export interface Incoming {
  resultId: number;
  file: string;
  /** Bytes of the spool entry as stored. */
  bytes: number;
  entry: SpoolEntry;
  /** What the workunit's name says. */
  name: WorkunitId & { name: string };
  /** What the workunit asked for (its staged wu.json), when the entry carries it. */
  workunit?: WorkunitInput;
}

/** A spool entry that could not be read or judged, and why. */
export interface SetAside {
  /** Its file name in the spool. */
  file: string;
  reason: string;
}

export interface Intake {
  incoming: Incoming[];
  /** Results already in the record or in an open results pull request. */
  skipped: number;
  /** Entries that cannot be read; the caller moves them aside (setAsideEntries). */
  setAside: SetAside[];
  problems: Problem[];
}

/** Where unreadable spool entries are moved, each with a `.reason` file beside it. */
export const SET_ASIDE_DIR = 'set-aside';

/** `name`, or `name.1`, `name.2`, ... : the first that nothing in `dir` is called (links included). */
function freeName(dir: string, name: string): string {
  for (let n = 0; ; n++) {
    const candidate = n === 0 ? name : `${name}.${n}`;
    if (!lstatSync(join(dir, candidate), { throwIfNoEntry: false })) return candidate;
  }
}

/**
 * The set-aside folder, made when missing. Anything else of its name (a link, a file) is moved out
 * of the way first, never followed or written through.
 */
function setAsideDir(spoolDir: string, now: Date): string {
  const dir = join(spoolDir, SET_ASIDE_DIR);
  const stat = lstatSync(dir, { throwIfNoEntry: false });
  if (stat && !stat.isDirectory())
    renameSync(dir, join(spoolDir, freeName(spoolDir, `${SET_ASIDE_DIR}.not-a-folder.${now.getTime()}`)));
  if (!stat?.isDirectory()) mkdirSync(dir);
  return dir;
}

/**
 * Moves entries that could not be read or judged out of the spool, into `set-aside/` with a
 * `<file>.reason` beside each, so that no later run trips over them and a person can look. What is
 * moved is the entry itself, whatever it is (a link moves as the link, never its target), and the
 * reason is written as a new file, never through anything already there.
 */
export function setAsideEntries(spoolDir: string, entries: readonly SetAside[], now: Date): string[] {
  if (entries.length === 0) return [];
  const dir = setAsideDir(spoolDir, now);
  return entries.flatMap((entry) => {
    const from = join(spoolDir, entry.file);
    if (!lstatSync(from, { throwIfNoEntry: false })) return [];
    const name = freeName(dir, entry.file);
    writeFileAtomically(join(dir, `${name}.reason`), `${now.toISOString()} ${entry.reason}\n`);
    renameSync(from, join(dir, name));
    return [join(SET_ASIDE_DIR, name)];
  });
}

/** Spool entries are written by `axiom assimilate`; anything bigger than this is not ours. */
const MAX_SPOOL_BYTES = 8 * 1024 * 1024;
const SPOOL_FILE = /^(.+)__([0-9]{1,12})\.json$/;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const optionalInteger = (v: unknown) => (Number.isInteger(v) ? (v as number) : undefined);
const optionalNumber = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const optionalText = (v: unknown, limit: number) => (typeof v === 'string' ? v.slice(0, limit) : undefined);

function clientOf(raw: unknown): SpoolClient | undefined {
  if (!isRecord(raw)) return undefined;
  const status = typeof raw.status === 'string' ? raw.status : 'unknown';
  const sha = optionalText(raw.script_sha256, 64);
  const environment = environmentOf(raw.environment);
  return {
    status: status as SpoolClient['status'],
    exit_code: optionalInteger(raw.exit_code) ?? null,
    elapsed_seconds: optionalNumber(raw.elapsed_seconds) ?? null,
    ...(sha && /^[0-9a-f]{64}$/.test(sha) ? { script_sha256: sha } : {}),
    ...(raw.isolation === 'sandbox' || raw.isolation === 'limits-only' ? { isolation: raw.isolation } : {}),
    ...(environment ? { environment } : {}),
    ...(typeof raw.message === 'string' ? { message: raw.message.slice(0, 500) } : {}),
    ...(typeof raw.stderr_tail === 'string' ? { stderr_tail: raw.stderr_tail.slice(-2000) } : {}),
  };
}

/**
 * What the assimilator noted when it sanitised the envelope (keys dropped or past the limits), which
 * sanitising the entry again cannot see, together with what is noted now.
 */
function noted(raw: unknown, key: 'dropped' | 'truncated', now: readonly string[] = []): string[] {
  const earlier = isRecord(raw) && Array.isArray(raw[key]) ? raw[key] : [];
  return [
    ...new Set([
      ...earlier.filter((d): d is string => typeof d === 'string').map((d) => d.slice(0, 80)),
      ...now,
    ]),
  ];
}

/**
 * A spool entry as stored is data like any other: every field is checked for its type, and the
 * envelope is sanitised again, so that nothing later can trip over a value of the wrong kind.
 */
export function readSpoolEntry(
  raw: unknown,
  validator: SchemaValidator,
): { entry: SpoolEntry; workunit?: WorkunitInput } | { problem: string } {
  if (!isRecord(raw)) return { problem: 'not a JSON object' };
  if (raw.kind !== 'result') return { problem: 'not a result entry' };
  if (typeof raw.wu_name !== 'string' || !Number.isInteger(raw.result_id) || !Number.isInteger(raw.wu_id))
    return { problem: 'wu_name, wu_id or result_id is missing or of the wrong type' };
  const verdict = raw.verdict;
  if (verdict !== 'accepted' && verdict !== 'rejected' && verdict !== 'failed-task')
    return { problem: 'its verdict is not accepted, rejected or failed-task' };
  let workunit: WorkunitInput | undefined;
  if (raw.workunit !== undefined) {
    const problems = validator.validate('workunit', {
      file: 'workunit',
      data: raw.workunit,
      locate: () => ({ line: 1, column: 1 }),
    });
    if (problems.length > 0)
      return {
        problem: `its workunit input breaks schemas/workunit.schema.json: ${problems[0]?.path ?? ''} ${problems[0]?.message}`,
      };
    workunit = raw.workunit as WorkunitInput;
  }
  const client = clientOf(raw.client);
  const envelope = raw.envelope === undefined ? undefined : sanitiseEnvelope(raw.envelope);
  if (envelope) {
    envelope.dropped = noted(raw.envelope, 'dropped', envelope.dropped);
    const truncated = noted(raw.envelope, 'truncated', envelope.truncated);
    if (truncated.length > 0) envelope.truncated = truncated;
  }
  const entry: SpoolEntry = {
    kind: 'result',
    received_at:
      typeof raw.received_at === 'string' && !Number.isNaN(Date.parse(raw.received_at))
        ? new Date(raw.received_at).toISOString()
        : new Date(0).toISOString(),
    wu_name: raw.wu_name,
    wu_id: raw.wu_id as number,
    result_id: raw.result_id as number,
    ...(optionalNumber(raw.runtime) !== undefined ? { runtime: optionalNumber(raw.runtime) } : {}),
    ...(optionalInteger(raw.host_id) !== undefined ? { host_id: optionalInteger(raw.host_id) } : {}),
    ...(optionalInteger(raw.user_id) !== undefined ? { user_id: optionalInteger(raw.user_id) } : {}),
    verdict,
    ...(typeof raw.reason === 'string' ? { reason: raw.reason.slice(0, 1000) } : {}),
    ...(workunit ? { workunit } : {}),
    ...(client ? { client } : {}),
    ...(envelope ? { envelope } : {}),
  };
  return { entry, ...(workunit ? { workunit } : {}) };
}

/**
 * Reads the spool: one entry per result, in result id order, leaving out workunit-level errors
 * (no result to judge) and results already collected (`known`). An entry that cannot be read is
 * listed to be set aside; every other one goes on.
 */
export function readSpool(spoolDir: string, known: ReadonlySet<number>, validator: SchemaValidator): Intake {
  const intake: Intake = { incoming: [], skipped: 0, setAside: [], problems: [] };
  if (!existsSync(spoolDir)) return intake;
  for (const file of readdirSync(spoolDir)) {
    const match = SPOOL_FILE.exec(file);
    if (!match) continue;
    const resultId = Number(match[2]);
    if (known.has(resultId)) {
      intake.skipped += 1;
      continue;
    }
    const problem = (reason: string) => intake.setAside.push({ file, reason });
    const name = WorkunitName.parse(match[1] as string);
    if (!name) {
      problem('not a result of an Axiom Lab workunit');
      continue;
    }
    const read = readRegularFile(join(spoolDir, file), MAX_SPOOL_BYTES);
    if ('refused' in read) {
      problem(read.refused);
      continue;
    }
    const bytes = read.bytes.length;
    let raw: unknown;
    try {
      raw = parseStrictJson(read.bytes.toString('utf8'));
    } catch (error) {
      problem(`not valid JSON (${describeJsonError(error)})`);
      continue;
    }
    const spooled = readSpoolEntry(raw, validator);
    if ('problem' in spooled) {
      problem(spooled.problem);
      continue;
    }
    if (spooled.entry.result_id !== resultId || spooled.entry.wu_name !== match[1]) {
      problem('the file name and the entry disagree on the workunit or result');
      continue;
    }
    intake.incoming.push({
      resultId,
      file,
      bytes,
      entry: spooled.entry,
      name: { ...name, name: spooled.entry.wu_name },
      ...(spooled.workunit ? { workunit: spooled.workunit } : {}),
    });
  }
  // A result has one entry. Two files with its id (under different workunits' names) cannot both be
  // right, and which one is cannot be told from the spool: neither is judged until a person looks.
  const files = new Map<number, string[]>();
  for (const i of intake.incoming) files.set(i.resultId, [...(files.get(i.resultId) ?? []), i.file]);
  for (const [resultId, names] of files) {
    if (names.length < 2) continue;
    for (const file of names)
      intake.setAside.push({
        file,
        reason: `result ${resultId} has ${names.length} spool entries (${[...names].sort().join(', ')}); neither is judged until the wrong one is removed`,
      });
  }
  intake.incoming = intake.incoming.filter((i) => (files.get(i.resultId)?.length ?? 0) < 2);
  intake.incoming.sort((a, b) => a.resultId - b.resultId);
  return intake;
}
