import { EXPERIMENT_NAME_PATTERN } from '../manifest/name.js';

/**
 * The layout of the research record in git, written by `axiom collect` and read by plots, the site
 * and `axiom credit`. A collection run is recorded in one or more batches, each its own pull request
 * small enough for GitHub to show whole (see collect/batches.ts):
 *
 *   results/<experiment>/<batch>.jsonl        one line per result: {"result", "review", "envelope"}
 *   results/<experiment>/<batch>.md           the batch's review for people: flagged results first,
 *                                             every result at the anchor #result-<id>
 *   results/<experiment>/<batch>-plot-<n>.svg plot n of the manifest over the batch's results
 *   results/credit/<batch>.yaml               the credit proposal of the batch
 *
 * A batch is named after its collection run (`2026-11-25T120000Z`); when the run needed several, the
 * second is `2026-11-25T120000Z.2`, and so on. A result's stable address is `results/<experiment>/<batch>.md#result-<id>`
 * (its data: the line of `<batch>.jsonl` whose "result" is the id); the site gives each result a page.
 * A follow-up's manifest cites the results it builds on by these addresses (`follow_up.parents`).
 *
 * The layout before batches (one folder per result) is still read, and `axiom migrate` rewrites it:
 *
 *   results/<experiment>/<result id>/result.json, review.json, review.md, plot-<n>.svg
 *   results/<experiment>/overview-<n>.svg
 */
export const RESULTS_DIR = 'results';
export const CREDIT_DIR = `${RESULTS_DIR}/credit`;

/** A collection run's id: its start in UTC, e.g. 2026-11-25T120000Z. */
export const RUN_ID = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{6}Z$/;
/** A batch of a run: the run id for the first, with `.<k>` for the k-th (k from 2) when it was split. */
export const BATCH_ID = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{6}Z(\.[1-9][0-9]{0,3})?$/;
const BATCH_FILE = /^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{6}Z(?:\.[1-9][0-9]{0,3})?)\.jsonl$/;

export const batchId = (run: string, part: number): string => (part <= 1 ? run : `${run}.${part}`);

/** The run a batch belongs to. */
export const runOfBatch = (batch: string): string => batch.replace(/\.[0-9]+$/, '');

export const dataFile = (experiment: string, batch: string) => `${RESULTS_DIR}/${experiment}/${batch}.jsonl`;
export const reviewFile = (experiment: string, batch: string) => `${RESULTS_DIR}/${experiment}/${batch}.md`;
export const batchPlotFile = (experiment: string, batch: string, index: number) =>
  `${RESULTS_DIR}/${experiment}/${batch}-plot-${index + 1}.svg`;
export const creditFilePath = (batch: string) => `${CREDIT_DIR}/${batch}.yaml`;

/** The anchor of a result in its batch's review. */
export const resultAnchor = (id: number) => `result-${id}`;
/** Where a result is reviewed: its batch's review file and its anchor there. */
export const resultAddress = (experiment: string, batch: string, id: number) =>
  `${reviewFile(experiment, batch)}#${resultAnchor(id)}`;

/** What a result's stable address names; `batch` is absent for a result of the layout before batches. */
export interface ResultAddress {
  experiment: string;
  batch?: string;
  id: number;
}

const ADDRESS = new RegExp(
  `^results/(${EXPERIMENT_NAME_PATTERN})/(?:([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{6}Z(?:\\.[1-9][0-9]{0,3})?)\\.md#result-([1-9][0-9]{0,11})|([1-9][0-9]{0,11}))$`,
);

/**
 * Reads a stable address: `results/<experiment>/<batch>.md#result-<id>`, or `results/<experiment>/<id>`
 * (the result's folder in the layout before batches). Undefined when it is neither.
 */
export function parseResultAddress(address: string): ResultAddress | undefined {
  const match = ADDRESS.exec(address);
  if (!match) return undefined;
  const [, experiment, batch, batchedId, folderId] = match;
  return batch
    ? { experiment: experiment as string, batch, id: Number(batchedId) }
    : { experiment: experiment as string, id: Number(folderId) };
}

/** A result's stable address: in its batch's review, or its folder in the layout before batches. */
export const addressOf = (result: { experiment: string; batch?: string; id: number }) =>
  result.batch
    ? resultAddress(result.experiment, result.batch, result.id)
    : `${RESULTS_DIR}/${result.experiment}/${result.id}`;

/** The batch a data file name holds, or undefined when it is not one. */
export function batchOfDataFile(name: string): string | undefined {
  return BATCH_FILE.exec(name)?.[1];
}

/** The layout before batches: a folder per result. */
export const LEGACY = {
  resultFile: 'result.json',
  reviewFile: 'review.json',
  reviewMarkdown: 'review.md',
  resultDir: /^[0-9]{1,12}$/,
  plotFile: /^plot-[0-9]+\.svg$/,
  overviewFile: /^overview-[0-9]+\.svg$/,
} as const;

/** What GitHub shows of one pull request: files in its diff, rendered images, lines and bytes of diff. */
export const GITHUB_DIFF_LIMITS = {
  files: 300,
  images: 25,
  lines: 20_000,
  bytes: 1_000_000,
} as const;
