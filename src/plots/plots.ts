import type { ExperimentRecord, ResearchRecord, ResultRecord } from '../record/research.js';
import { overviewFile, plotFile } from '../record/review.js';
import type { PlotRenderer } from './render.js';
import { overviewPlot, resultPlot } from './spec.js';

/** One rendered plot: where it belongs in the record, its SVG and its text alternative. */
export interface RenderedPlot {
  experiment: string;
  /** Undefined for an experiment's overview. */
  result?: number;
  index: number;
  title: string;
  alt: string;
  svg: string;
  /** Repository-relative path the plot is committed at. */
  path: string;
}

function resultJobs(experiment: ExperimentRecord, result: ResultRecord) {
  return (experiment.manifest?.outputs.plots ?? []).map((plot, index) => ({
    index,
    plot,
    job: resultPlot(result, plot),
    path: `${result.dir}/${plotFile(index)}`,
  }));
}

interface PlotWork {
  meta: Omit<RenderedPlot, 'svg'>;
  job: ReturnType<typeof resultPlot>;
}

/** The plots of each given result of one experiment. */
function resultWork(experiment: ExperimentRecord, results: readonly ResultRecord[]): PlotWork[] {
  return results.flatMap((result) =>
    resultJobs(experiment, result).map(({ index, plot, job, path }) => ({
      meta: { experiment: experiment.name, result: result.id, index, title: plot.title, alt: job.alt, path },
      job,
    })),
  );
}

/** One overview per declared plot, over all results of the experiment. */
function overviewWork(experiment: ExperimentRecord): PlotWork[] {
  if (experiment.results.length === 0) return [];
  return (experiment.manifest?.outputs.plots ?? []).map((plot, index) => {
    const job = overviewPlot(experiment.name, experiment.results, plot);
    return {
      meta: {
        experiment: experiment.name,
        index,
        title: `${plot.title} (all results)`,
        alt: job.alt,
        path: `results/${experiment.name}/${overviewFile(index)}`,
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
  return work.map((w, i) => ({ ...w.meta, svg: svgs[i] as string }));
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

/** The plots of `fresh` results and the overviews of their experiments (all results, old and new). */
export function renderNewPlots(
  experiments: readonly ExperimentRecord[],
  fresh: ReadonlySet<number>,
  renderer: PlotRenderer,
): Promise<RenderedPlot[]> {
  const work = experiments.flatMap((e) => [
    ...resultWork(
      e,
      e.results.filter((r) => fresh.has(r.id)),
    ),
    ...overviewWork(e),
  ]);
  return renderAll(work, renderer);
}

const START = '<!-- axiom:plots -->';
const END = '<!-- /axiom:plots -->';

/** The plots section of a result's review.md: the SVGs beside it, with their text alternatives. */
export function plotsMarkdown(plots: readonly RenderedPlot[]): string {
  const lines = plots.map((p) => `![${p.alt.replace(/[[\]]/g, '')}](${p.path.split('/').pop()})`);
  return `${START}\n## Plots\n\n${lines.join('\n\n')}\n${END}`;
}

/** review.md with its plots section replaced (or added at the end). */
export function withPlotsSection(markdown: string, plots: readonly RenderedPlot[]): string {
  const section = plotsMarkdown(plots);
  const start = markdown.indexOf(START);
  const end = markdown.indexOf(END);
  if (start >= 0 && end > start)
    return `${markdown.slice(0, start)}${section}${markdown.slice(end + END.length)}`;
  return `${markdown.trimEnd()}\n\n${section}\n`;
}
