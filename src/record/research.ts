import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type SanitisedEnvelope, sanitiseEnvelope } from '../envelope/envelope.js';
import { parseStrictJson } from '../envelope/json.js';
import { MAX_RESULT_BYTES } from '../envelope/report.js';
import { loadManifest } from '../manifest/load.js';
import { EXPERIMENT_NAME } from '../manifest/name.js';
import type { Manifest } from '../manifest/types.js';
import type { Problem } from '../problems.js';
import { readRegularFile } from '../read-file.js';
import type { SchemaValidator } from '../schema/validate.js';
import { parseYaml } from '../yaml/document.js';
import { readCreditFiles } from './credit-file.js';
import { batchOfDataFile, LEGACY, RESULTS_DIR } from './layout.js';
import type { Review } from './review.js';

export interface ResultRecord {
  experiment: string;
  id: number;
  /** Where it is stored: its batch's data file and line, or its folder in the layout before batches. */
  source: { file: string; line?: number };
  /** The batch it is recorded in; undefined in the layout before batches. */
  batch?: string;
  envelope: SanitisedEnvelope;
  review?: Review;
  /** The credit merged for it (the credit files on this checkout), when there is an entry. */
  credit?: number;
}

export interface ExperimentRecord {
  name: string;
  manifest?: Manifest;
  results: ResultRecord[];
}

export interface ResearchRecord {
  experiments: ExperimentRecord[];
  /** Files that could not be read; they are left out, never guessed at. */
  problems: Problem[];
}

function listDirs(path: string): string[] {
  if (!existsSync(path)) return [];
  return readdirSync(path, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
}

/** A file of the record as text; anything but a regular file within `maxBytes` is a warning and left out. */
function readRecordFile(
  root: string,
  file: string,
  maxBytes: number,
  problems: Problem[],
): string | undefined {
  const read = readRegularFile(join(root, file), maxBytes);
  if ('bytes' in read) return read.bytes.toString('utf8');
  if (read.refused !== 'missing')
    problems.push({ file, rule: 'record', message: `${read.refused}; left out`, severity: 'warning' });
  return undefined;
}

function readJson(root: string, file: string, problems: Problem[]): unknown {
  const text = readRecordFile(root, file, MAX_RESULT_BYTES, problems);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    problems.push({
      file,
      rule: 'record',
      message: `not JSON (${(error as Error).message}); left out`,
      severity: 'warning',
    });
    return undefined;
  }
}

/** The largest data file of one batch that is read: a batch holds at most a few megabytes. */
const MAX_DATA_FILE_BYTES = 256 * 1024 * 1024;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The lines of one batch's data file; a line that cannot be read is reported at its line and left out. */
function readDataFile(
  root: string,
  experiment: string,
  file: string,
  batch: string,
  validator: SchemaValidator,
  problems: Problem[],
): ResultRecord[] {
  const text = readRecordFile(root, file, MAX_DATA_FILE_BYTES, problems);
  return text === undefined ? [] : parseDataFile(text, experiment, file, batch, validator, problems);
}

/**
 * The results of one batch's data file from its text (on this checkout, or on a pull request's
 * branch); a line that cannot be read is reported at its line and left out.
 */
export function parseDataFile(
  content: string,
  experiment: string,
  file: string,
  batch: string,
  validator: SchemaValidator,
  problems: Problem[],
): ResultRecord[] {
  const out: ResultRecord[] = [];
  content.split('\n').forEach((text, index) => {
    if (text.trim() === '') return;
    const line = index + 1;
    const problem = (message: string) =>
      problems.push({
        file,
        line,
        column: 1,
        rule: 'record',
        message: `${message}; left out`,
        severity: 'warning',
      });
    let raw: unknown;
    try {
      raw = parseStrictJson(text);
    } catch (error) {
      problem(`not JSON (${(error as Error).message.slice(0, 120)})`);
      return;
    }
    const shape = validator.validate('record', { file, data: raw, locate: () => ({ line, column: 1 }) });
    if (shape.length > 0 || !isRecord(raw)) {
      problem(shape.map((p) => `${p.path ? `${p.path}: ` : ''}${p.message}`).join('; '));
      return;
    }
    const review = raw.review as Review;
    const reviewProblems = validator.validate('review', {
      file,
      data: review,
      locate: () => ({ line, column: 1 }),
    });
    if (reviewProblems.length > 0) {
      problem(
        `its review breaks schemas/review.schema.json: ${reviewProblems[0]?.path ?? ''} ${reviewProblems[0]?.message}`,
      );
      return;
    }
    if (review.result !== raw.result || review.experiment !== experiment) {
      problem(
        `its review is of result ${review.result} of ${review.experiment}, not result ${raw.result} of ${experiment}`,
      );
      return;
    }
    out.push({
      experiment,
      id: raw.result as number,
      source: { file, line },
      batch,
      envelope: sanitiseEnvelope(raw.envelope),
      review,
    });
  });
  return out;
}

/** A result folder of the layout before batches. */
function readLegacyResult(
  root: string,
  experiment: string,
  id: number,
  validator: SchemaValidator,
  problems: Problem[],
): ResultRecord | undefined {
  const dir = `${RESULTS_DIR}/${experiment}/${id}`;
  const raw = readJson(root, `${dir}/${LEGACY.resultFile}`, problems);
  if (raw === undefined) return undefined;
  const review = readReview(root, `${dir}/${LEGACY.reviewFile}`, validator, problems);
  return {
    experiment,
    id,
    source: { file: dir },
    envelope: sanitiseEnvelope(raw),
    ...(review ? { review } : {}),
  };
}

/** Every result of one experiment, in both layouts, by result id; a result recorded twice counts once. */
function readResults(root: string, experiment: string, validator: SchemaValidator, problems: Problem[]) {
  const base = join(root, RESULTS_DIR, experiment);
  if (!existsSync(base)) return [];
  const byId = new Map<number, ResultRecord>();
  const add = (record: ResultRecord) => {
    const first = byId.get(record.id);
    if (first) {
      problems.push({
        file: record.source.file,
        ...(record.source.line ? { line: record.source.line, column: 1 } : {}),
        rule: 'record',
        message: `result ${record.id} is already recorded in ${first.source.file}${first.source.line ? `:${first.source.line}` : ''}; this copy is left out`,
        severity: 'warning',
      });
      return;
    }
    byId.set(record.id, record);
  };
  const entries = readdirSync(base, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const batch = entry.isFile() ? batchOfDataFile(entry.name) : undefined;
    if (batch)
      for (const record of readDataFile(
        root,
        experiment,
        `${RESULTS_DIR}/${experiment}/${entry.name}`,
        batch,
        validator,
        problems,
      ))
        add(record);
  }
  for (const entry of entries) {
    if (!entry.isDirectory() || !LEGACY.resultDir.test(entry.name)) continue;
    const record = readLegacyResult(root, experiment, Number(entry.name), validator, problems);
    if (record) add(record);
  }
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

function readReview(
  root: string,
  file: string,
  validator: SchemaValidator,
  problems: Problem[],
): Review | undefined {
  const text = readRecordFile(root, file, MAX_RESULT_BYTES, problems);
  if (text === undefined) return undefined;
  // Parsed as YAML (a superset of JSON) to locate schema problems by line.
  const { document, problems: syntax } = parseYaml(file, text);
  const schema = document ? validator.validate('review', document) : [];
  if (!document || syntax.length > 0 || schema.length > 0) {
    problems.push(...[...syntax, ...schema].map((p) => ({ ...p, severity: 'warning' as const })));
    return undefined;
  }
  return document.data as Review;
}

/**
 * The collected reviews of these experiments' results, by result id: what credit is paid against,
 * read without the manifests, the credit files or any other experiment.
 */
export function readReviews(
  root: string,
  experiments: Iterable<string>,
  validator: SchemaValidator,
): Map<number, Review> {
  const reviews = new Map<number, Review>();
  for (const name of new Set(experiments)) {
    if (!EXPERIMENT_NAME.test(name)) continue;
    for (const result of readResults(root, name, validator, [])) {
      if (result.review) reviews.set(result.id, result.review);
    }
  }
  return reviews;
}

/** Reads manifests, results, reviews and credit files in one pass over the repository. */
export function readResearchRecord(root: string, validator: SchemaValidator): ResearchRecord {
  const problems: Problem[] = [];
  const credit = new Map(
    readCreditFiles(root, validator).entries.map((e) => [e.entry.result, e.entry.credit]),
  );
  const manifestNames = existsSync(join(root, 'manifests'))
    ? readdirSync(join(root, 'manifests'))
        .filter((f) => f.endsWith('.yaml'))
        .map((f) => f.slice(0, -'.yaml'.length))
    : [];
  const resultNames = listDirs(join(root, RESULTS_DIR)).filter((d) => d !== 'credit');
  const names = [...new Set([...manifestNames, ...resultNames])]
    .filter((n) => EXPERIMENT_NAME.test(n))
    .sort();
  const experiments = names.map((name): ExperimentRecord => {
    const loaded = manifestNames.includes(name)
      ? loadManifest(root, `manifests/${name}.yaml`, validator)
      : undefined;
    const results = readResults(root, name, validator, problems).map((r) => {
      const granted = credit.get(r.id);
      return granted !== undefined ? { ...r, credit: granted } : r;
    });
    return { name, ...(loaded?.manifest ? { manifest: loaded.manifest } : {}), results };
  });
  return { experiments, problems };
}

/** The BLAS each result's client reported, by host: where the planner learns a host's BLAS. */
export function reportedBlas(record: ResearchRecord): { host: number; blas?: string; receivedAt: string }[] {
  return record.experiments.flatMap((e) =>
    e.results.flatMap((r) =>
      r.review
        ? [{ host: r.review.host, blas: r.review.environment?.blas, receivedAt: r.review.received_at }]
        : [],
    ),
  );
}
