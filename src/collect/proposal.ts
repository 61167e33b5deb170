import type { ProposalFile } from '../forge/forge.js';
import type { Manifest } from '../manifest/types.js';
import { plotsMarkdown, type RenderedPlot, renderBatchPlots } from '../plots/plots.js';
import type { PlotRenderer } from '../plots/render.js';
import { batchId, dataFile, reviewFile } from '../record/layout.js';
import type { ResultRecord } from '../record/research.js';
import { BATCH_LIMITS, type BatchLimits, diffSize, packBatches } from './batches.js';
import type { CollectOutcome } from './collect.js';
import { batchReviewMarkdown, type Collected, creditFile, dataLine, isFlagged, reviewOf } from './record.js';

/** One batch of a run: the files of its pull request and what they weigh in GitHub's diff view. */
export interface BatchProposal {
  batch: string;
  /** 1-based position among the run's batches, and how many there are. */
  part: number;
  parts: number;
  items: Collected[];
  files: ProposalFile[];
  size: { files: number; images: number; lines: number; bytes: number };
  /** Said when the batch's plots were left out to stay within the limits. */
  notes: string[];
}

function sizeOf(files: readonly ProposalFile[]): BatchProposal['size'] {
  let lines = 0;
  let bytes = 0;
  for (const f of files) {
    const d = diffSize(f.path, f.content ?? '');
    lines += d.lines;
    bytes += d.bytes;
  }
  return { files: files.length, images: files.filter((f) => f.path.endsWith('.svg')).length, lines, bytes };
}

const within = (size: BatchProposal['size'], limits: BatchLimits) =>
  size.files <= limits.files &&
  size.images <= limits.images &&
  size.lines <= limits.lines &&
  size.bytes <= limits.bytes;

/** The items of each experiment, in the order they come. */
export function groupByExperiment(items: readonly Collected[]): Map<string, Collected[]> {
  const groups = new Map<string, Collected[]>();
  for (const item of items) {
    const group = groups.get(item.experiment);
    if (group) group.push(item);
    else groups.set(item.experiment, [item]);
  }
  return groups;
}

/** The files of one batch, with its plots when `plots` gives them. */
function batchFiles(
  groups: Map<string, Collected[]>,
  run: string,
  batch: string,
  judgedBy: string,
  plots: Map<string, RenderedPlot[]>,
  plotsNote?: string,
): ProposalFile[] {
  const files: ProposalFile[] = [];
  for (const [experiment, items] of groups) {
    const manifest: Manifest | undefined = items.find((i) => i.manifest)?.manifest;
    const own = plots.get(experiment) ?? [];
    files.push({
      path: dataFile(experiment, batch),
      content: items.map((i) => dataLine(i, run, batch)).join(''),
    });
    files.push({
      path: reviewFile(experiment, batch),
      content: batchReviewMarkdown({
        experiment,
        ...(manifest ? { manifest } : {}),
        items,
        run,
        batch,
        judgedBy,
        plots: plotsMarkdown(own),
        ...(plotsNote ? { plotsNote } : {}),
      }),
    });
    for (const plot of own) files.push({ path: plot.path as string, content: plot.svg });
  }
  files.push(creditFile([...groups.values()].flat(), run, batch, judgedBy));
  return files;
}

async function plotsOf(
  groups: Map<string, Collected[]>,
  run: string,
  batch: string,
  renderer: PlotRenderer,
): Promise<Map<string, RenderedPlot[]>> {
  const plots = new Map<string, RenderedPlot[]>();
  for (const [experiment, group] of groups) {
    const manifest = group.find((i) => i.manifest)?.manifest;
    const results: ResultRecord[] = group.map((c) => ({
      experiment,
      id: c.resultId,
      source: { file: dataFile(experiment, batch) },
      batch,
      envelope: c.envelope,
      review: reviewOf(c, run, batch),
    }));
    const flagged = new Set(group.filter(isFlagged).map((c) => c.resultId));
    plots.set(
      experiment,
      await renderBatchPlots(
        { name: experiment, ...(manifest ? { manifest } : {}), results },
        batch,
        flagged,
        renderer,
      ),
    );
  }
  return plots;
}

/** Two halves of a batch that came out too big: by experiment where it has several, else by result. */
function halves(items: readonly Collected[]): [Collected[], Collected[]] {
  const groups = [...groupByExperiment(items).values()];
  if (groups.length > 1) {
    const half = Math.ceil(groups.length / 2);
    return [groups.slice(0, half).flat(), groups.slice(half).flat()];
  }
  const half = Math.ceil(items.length / 2);
  return [items.slice(0, half), items.slice(half)];
}

const PLOTS_LEFT_OUT =
  'Plots left out of this batch: with them the pull request would be larger than GitHub shows; `axiom site` draws them.';

/**
 * Splits a run into batches that GitHub can show whole, and writes each one's files: per experiment
 * its data file, its review (flagged results first) and its plots, and the batch's credit file.
 * Batches are packed by estimate, then measured as written: one that is over is split in two, and a
 * single result whose plots alone would take it over is proposed without them, saying so.
 */
export async function batchProposals(
  outcome: Pick<CollectOutcome, 'run' | 'collected'>,
  judgedBy: string,
  renderer: PlotRenderer | undefined,
  limits: BatchLimits = BATCH_LIMITS,
): Promise<BatchProposal[]> {
  const plotCount = (experiment: string) =>
    renderer
      ? (outcome.collected.find((c) => c.experiment === experiment && c.manifest)?.manifest?.outputs.plots
          ?.length ?? 0)
      : 0;
  const queue = packBatches(outcome.collected, outcome.run, plotCount, limits);
  const proposals: Omit<BatchProposal, 'parts'>[] = [];
  while (queue.length > 0) {
    const items = queue.shift() as Collected[];
    const batch = batchId(outcome.run, proposals.length + 1);
    const groups = groupByExperiment(items);
    const plots = renderer ? await plotsOf(groups, outcome.run, batch, renderer) : new Map();
    let files = batchFiles(groups, outcome.run, batch, judgedBy, plots);
    const notes: string[] = [];
    if (!within(sizeOf(files), limits)) {
      if (items.length > 1) {
        queue.unshift(...halves(items));
        continue;
      }
      notes.push(PLOTS_LEFT_OUT);
      files = batchFiles(groups, outcome.run, batch, judgedBy, new Map(), PLOTS_LEFT_OUT);
    }
    proposals.push({ batch, part: proposals.length + 1, items, files, size: sizeOf(files), notes });
  }
  return proposals.map((p) => ({ ...p, parts: proposals.length }));
}
