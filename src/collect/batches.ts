import { creditEntryYaml } from '../record/credit-yaml.js';
import { GITHUB_DIFF_LIMITS } from '../record/layout.js';
import { type Collected, creditEntry, dataLine, flaggedSection, isFlagged, tableRow } from './record.js';

/** What one pull request may hold: GitHub's limits, with room for what estimates miss. */
export interface BatchLimits {
  files: number;
  images: number;
  lines: number;
  bytes: number;
}

export const BATCH_LIMITS: BatchLimits = {
  files: GITHUB_DIFF_LIMITS.files - 10,
  images: GITHUB_DIFF_LIMITS.images,
  lines: Math.floor(GITHUB_DIFF_LIMITS.lines * 0.9),
  bytes: Math.floor(GITHUB_DIFF_LIMITS.bytes * 0.9),
};

/**
 * Room kept for one plot while packing: a batch plot's SVG does not grow with its batch (plots/spec.ts
 * batchPlot) and weighs 20 to 60 kB; each batch is measured once drawn, and split if it is over.
 */
export const PLOT_BYTES = 40_000;
const PLOT_LINES = 5;
/** A batch review's header, acceptance table and headings. */
const REVIEW_HEADER = { lines: 40, bytes: 4_000 };

/** Lines and bytes one new file adds to a diff: its header, and each line with its `+`. */
export function diffSize(path: string, content: string | Buffer): { lines: number; bytes: number } {
  const text = typeof content === 'string' ? content : content.toString('utf8');
  const lines = text === '' ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  return { lines, bytes: Buffer.byteLength(text) + lines + 2 * Buffer.byteLength(path) + 120 };
}

const bytes = (text: string) => Buffer.byteLength(text);
const lines = (text: string) => text.split('\n').length - 1;

/** What one result adds to its batch: its data line, its row and section in the review, its credit entry. */
function costOf(item: Collected, run: string, batch: string): { lines: number; bytes: number } {
  const parts = [
    dataLine(item, run, batch),
    tableRow(item),
    ...(isFlagged(item) ? [flaggedSection(item)] : []),
    creditEntryYaml(creditEntry(item)),
  ];
  return {
    lines: parts.reduce((s, p) => s + lines(p), 0),
    bytes: parts.reduce((s, p) => s + bytes(p) + lines(p), 0),
  };
}

interface Tally {
  files: number;
  images: number;
  lines: number;
  bytes: number;
  experiments: Set<string>;
}

/**
 * Splits a run's results into batches, each a pull request within `limits`: results in experiment
 * and result order (so a batch is one experiment's where it can be), each batch as full as it may be.
 * `plotsOf` says how many plots an experiment's batch review embeds.
 */
export function packBatches(
  items: readonly Collected[],
  run: string,
  plotsOf: (experiment: string) => number,
  limits: BatchLimits = BATCH_LIMITS,
): Collected[][] {
  const ordered = [...items].sort(
    (a, b) => a.experiment.localeCompare(b.experiment) || a.resultId - b.resultId,
  );
  const batches: Collected[][] = [];
  let current: Collected[] = [];
  // The credit file of the batch.
  const empty = (): Tally => ({ files: 1, images: 0, lines: 10, bytes: 600, experiments: new Set() });
  let tally = empty();
  // Batch names are as long as `<run>.<k>`; sized for the longest.
  const longest = `${run}.9999`;
  for (const item of ordered) {
    const cost = costOf(item, run, longest);
    const fresh = !tally.experiments.has(item.experiment);
    const plots = fresh ? plotsOf(item.experiment) : 0;
    const next = {
      files: tally.files + (fresh ? 2 + plots : 0),
      images: tally.images + plots,
      lines: tally.lines + cost.lines + (fresh ? REVIEW_HEADER.lines + plots * PLOT_LINES : 0),
      bytes: tally.bytes + cost.bytes + (fresh ? REVIEW_HEADER.bytes + plots * PLOT_BYTES : 0),
    };
    const fits =
      next.files <= limits.files &&
      next.images <= limits.images &&
      next.lines <= limits.lines &&
      next.bytes <= limits.bytes;
    if (!fits && current.length > 0) {
      batches.push(current);
      current = [];
      tally = empty();
      const plotsAgain = plotsOf(item.experiment);
      tally.files += 2 + plotsAgain;
      tally.images += plotsAgain;
      tally.lines += cost.lines + REVIEW_HEADER.lines + plotsAgain * PLOT_LINES;
      tally.bytes += cost.bytes + REVIEW_HEADER.bytes + plotsAgain * PLOT_BYTES;
    } else {
      Object.assign(tally, next);
    }
    tally.experiments.add(item.experiment);
    current.push(item);
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
