import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type SanitisedEnvelope, sanitiseEnvelope } from '../envelope/envelope.js';
import { MAX_RESULT_BYTES } from '../envelope/report.js';
import { loadManifest } from '../manifest/load.js';
import { EXPERIMENT_NAME } from '../manifest/name.js';
import type { Manifest } from '../manifest/types.js';
import type { Problem } from '../problems.js';
import type { SchemaValidator } from '../schema/validate.js';
import { parseYaml } from '../yaml/document.js';
import { readCreditFiles } from './credit-file.js';
import { RESULT_FILE, RESULTS_DIR, REVIEW_FILE, type Review } from './review.js';

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
    .filter((n) => EXPERIMENT_NAME.test(n))
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
