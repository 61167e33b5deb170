import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_RESULT_BYTES, type SanitisedEnvelope, sanitiseEnvelope } from '../boinc/assimilate.js';
import { readCreditFiles } from '../credit/file.js';
import { loadManifest } from '../manifest/load.js';
import type { Manifest } from '../manifest/types.js';
import type { Problem } from '../problems.js';
import type { SchemaValidator } from '../schema/validate.js';
import { parseYaml } from '../yaml/document.js';

/**
 * The layout of the research record, written by `axiom collect` and read by plots and the site:
 *
 *   results/<experiment>/<result id>/result.json   the sanitised result (numbers and a short summary)
 *   results/<experiment>/<result id>/review.json   the verdict, machine-readable (schemas/review.schema.json)
 *   results/<experiment>/<result id>/review.md     the same for people, with the plots embedded
 *   results/<experiment>/<result id>/plot-<n>.svg  one per plot the manifest declares
 *   results/<experiment>/overview-<n>.svg          every result of the experiment in one plot
 *   results/credit/<run>.yaml                      the credit proposal of each collection run
 */
export const RESULTS_DIR = 'results';
export const RESULT_FILE = 'result.json';
export const REVIEW_FILE = 'review.json';
export const REVIEW_MD = 'review.md';

export const plotFile = (index: number) => `plot-${index + 1}.svg`;
export const overviewFile = (index: number) => `overview-${index + 1}.svg`;

export type Verdict = 'valid' | 'invalid' | 'suspicious';

/** Which result, of which workunit, returned by whom: shared by reviews and credit entries. */
export interface ResultIdentity {
  result: number;
  workunit: string;
  experiment: string;
  host: number;
  user: number;
  team?: number;
}

export interface Review extends ResultIdentity {
  run: string;
  received_at: string;
  verdict: Verdict;
  quality: number;
  proposed_credit: number;
  judged_by: string;
  checks: { rule: string; passed: boolean; finding?: string }[];
  evidence?: string[];
  flags?: string[];
  provenance?: {
    model: string;
    prompt_hash: string;
    input_tokens: number;
    output_tokens: number;
    cache_read_tokens?: number;
    cache_write_tokens?: number;
    cost_usd: number;
    batched: boolean;
  };
}

export interface ResultRecord {
  experiment: string;
  id: number;
  /** Repository-relative folder of the result. */
  dir: string;
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

function readJson(root: string, file: string, problems: Problem[]): unknown {
  const path = join(root, file);
  if (!existsSync(path)) return undefined;
  if (statSync(path).size > MAX_RESULT_BYTES) {
    problems.push({
      file,
      rule: 'record',
      message: `larger than ${MAX_RESULT_BYTES} bytes; left out`,
      severity: 'warning',
    });
    return undefined;
  }
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
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

function readReview(
  root: string,
  file: string,
  validator: SchemaValidator,
  problems: Problem[],
): Review | undefined {
  const path = join(root, file);
  if (!existsSync(path)) return undefined;
  // Parsed as YAML (a superset of JSON) to locate schema problems by line.
  const { document, problems: syntax } = parseYaml(file, readFileSync(path, 'utf8'));
  const schema = document ? validator.validate('review', document) : [];
  if (!document || syntax.length > 0 || schema.length > 0) {
    problems.push(...[...syntax, ...schema].map((p) => ({ ...p, severity: 'warning' as const })));
    return undefined;
  }
  return document.data as Review;
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
    .filter((n) => /^[a-z][a-z0-9_]{2,47}$/.test(n))
    .sort();
  const experiments = names.map((name): ExperimentRecord => {
    const loaded = manifestNames.includes(name)
      ? loadManifest(root, `manifests/${name}.yaml`, validator)
      : undefined;
    const results = listDirs(join(root, RESULTS_DIR, name))
      .filter((d) => /^[0-9]{1,12}$/.test(d))
      .map(Number)
      .sort((a, b) => a - b)
      .flatMap((id): ResultRecord[] => {
        const dir = `${RESULTS_DIR}/${name}/${id}`;
        const raw = readJson(root, `${dir}/${RESULT_FILE}`, problems);
        if (raw === undefined) return [];
        const review = readReview(root, `${dir}/${REVIEW_FILE}`, validator, problems);
        const granted = credit.get(id);
        return [
          {
            experiment: name,
            id,
            dir,
            envelope: sanitiseEnvelope(raw),
            ...(review ? { review } : {}),
            ...(granted !== undefined ? { credit: granted } : {}),
          },
        ];
      });
    return { name, ...(loaded?.manifest ? { manifest: loaded.manifest } : {}), results };
  });
  return { experiments, problems };
}
