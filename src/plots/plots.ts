import { batchPlotFile } from '../record/layout.js';
import type { ExperimentRecord, ResearchRecord, ResultRecord } from '../record/research.js';
import type { PlotRenderer } from './render.js';
import { batchPlot, overviewPlot, type PlotPoint, plottable, resultPlot, withLabels } from './spec.js';

/** One rendered plot: what it shows, its SVG and its text alternative. */
export interface RenderedPlot {
  experiment: string;
  /** The result a result's plot (site only) shows. */
  result?: number;
  /** The batch a batch plot shows; neither result nor batch: the experiment's overview (site only). */
  batch?: string;
  index: number;
  title: string;
  alt: string;
  svg: string;
  /** Repository-relative path a batch plot is committed at. */
  path?: string;
  /** The plotted data points (not fits or bands), for a table beside the image. */
  table?: { series: string; x: number; y: number }[];
}

/** A plot's table holds at most this many points; the site shows fewer. */
const MAX_TABLE_POINTS = 200;

function tableOf(values: readonly PlotPoint[]): RenderedPlot['table'] {
  return values
    .filter((v) => v.kind === 'data')
    .slice(0, MAX_TABLE_POINTS)
    .map((v) => ({ series: v.series, x: v.x, y: v.y }));
}

/** The experiment's declared plots, with axis titles from its series' descriptions and units. */
function plotsOf(experiment: ExperimentRecord) {
  const outputs = experiment.manifest?.outputs;
  return (outputs?.plots ?? []).map((plot) => withLabels(plot, outputs));
}

function resultJobs(experiment: ExperimentRecord, result: ResultRecord) {
  return plotsOf(experiment).map((plot, index) => ({
    index,
    plot,
    job: resultPlot(result, plot),
  }));
}

interface PlotWork {
  meta: Omit<RenderedPlot, 'svg'>;
  job: ReturnType<typeof resultPlot>;
}

/** The plots of each given result of one experiment. */
function resultWork(experiment: ExperimentRecord, results: readonly ResultRecord[]): PlotWork[] {
  return results.flatMap((result) =>
    resultJobs(experiment, result).map(({ index, plot, job }) => ({
      meta: { experiment: experiment.name, result: result.id, index, title: plot.title, alt: job.alt },
      job,
    })),
  );
}

/** One overview per declared plot, over all results of the experiment. */
function overviewWork(experiment: ExperimentRecord): PlotWork[] {
  if (plottable(experiment.results).length === 0) return [];
  return plotsOf(experiment).map((plot, index) => {
    const job = overviewPlot(experiment.name, experiment.results, plot);
    return {
      meta: {
        experiment: experiment.name,
        index,
        title: `${plot.title} (all results)`,
        alt: job.alt,
      },
      job,
    };
  });
}

async function renderAll(
  work: readonly PlotWork[],
  renderer: PlotRenderer,
  onProgress?: (done: number, total: number) => void,
): Promise<RenderedPlot[]> {
  let done = 0;
  const svgs = await Promise.all(
    work.map((w) =>
      renderer.render(w.job).then((svg) => {
        onProgress?.(++done, work.length);
        return svg;
      }),
    ),
  );
  return work.map((w, i) => ({ ...w.meta, svg: svgs[i] as string, table: tableOf(w.job.values) }));
}

/**
 * Renders every plot of the record: each result's plots and each experiment's overview, from the
 * same data the site shows. `onProgress` hears each finished plot.
 */
export function renderRecordPlots(
  record: ResearchRecord,
  renderer: PlotRenderer,
  onProgress?: (done: number, total: number) => void,
): Promise<RenderedPlot[]> {
  const work = record.experiments.flatMap((e) => [...resultWork(e, e.results), ...overviewWork(e)]);
  return renderAll(work, renderer, onProgress);
}

/**
 * The plots of one batch of an experiment, committed with it: one per plot the manifest declares,
 * the batch's median and spread, with the flagged results drawn on their own.
 */
export function renderBatchPlots(
  experiment: ExperimentRecord,
  batch: string,
  flagged: ReadonlySet<number>,
  renderer: PlotRenderer,
): Promise<RenderedPlot[]> {
  if (experiment.results.length === 0) return Promise.resolve([]);
  const work = plotsOf(experiment).flatMap((plot, index): PlotWork[] => {
    const job = batchPlot(experiment.name, batch, experiment.results, plot, flagged);
    // A plot with nothing on it (every result failed) says nothing a reviewer needs.
    if (!job.values.some((v) => v.kind === 'data' || v.kind === 'flagged')) return [];
    return [
      {
        meta: {
          experiment: experiment.name,
          batch,
          index,
          title: `${plot.title} (batch ${batch})`,
          alt: job.alt,
          path: batchPlotFile(experiment.name, batch, index),
        },
        job,
      },
    ];
  });
  return renderAll(work, renderer);
}

/** The markdown that shows a batch's plots in its review, beside the review file. */
export function plotsMarkdown(plots: readonly RenderedPlot[]): string {
  return plots
    .map((p) => `![${p.alt.replace(/[[\]]/g, '')}](${(p.path ?? '').split('/').pop()})`)
    .join('\n\n');
}

const START = '<!-- axiom:plots -->';
const END = '<!-- /axiom:plots -->';

/** The plots section of a batch's review, between markers that `axiom plots` finds again. */
export function plotsSection(markdown: string, note?: string): string {
  const body = markdown ? `## Plots\n\n${markdown}\n` : note ? `_${note.replace(/[_*`]/g, '')}_\n` : '';
  return `${START}\n${body}${END}`;
}

/** A batch review with its plots section replaced (or added at the end). */
export function withPlotsSection(review: string, plots: readonly RenderedPlot[]): string {
  const section = plotsSection(plotsMarkdown(plots));
  const start = review.indexOf(START);
  const end = review.indexOf(END);
  if (start >= 0 && end > start)
    return `${review.slice(0, start)}${section}${review.slice(end + END.length)}`;
  return `${review.trimEnd()}\n\n${section}\n`;
}
