import type { ExperimentRecord, ResearchRecord, ResultRecord } from '../results/record.js';
import { overviewFile, plotFile } from '../results/record.js';
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

/**
 * Renders every plot of the record: each result's plots and each experiment's overview, from the
 * same data the site shows. `onProgress` hears each finished plot.
 */
export async function renderRecordPlots(
  record: ResearchRecord,
  renderer: PlotRenderer,
  onProgress?: (done: number, total: number) => void,
): Promise<RenderedPlot[]> {
  const work: Omit<RenderedPlot, 'svg'>[] = [];
  const jobs: Promise<string>[] = [];
  for (const experiment of record.experiments) {
    const plots = experiment.manifest?.outputs.plots ?? [];
    for (const result of experiment.results)
      for (const { index, plot, job, path } of resultJobs(experiment, result)) {
        work.push({
          experiment: experiment.name,
          result: result.id,
          index,
          title: plot.title,
          alt: job.alt,
          path,
        });
        jobs.push(renderer.render(job));
      }
    if (experiment.results.length === 0) continue;
    plots.forEach((plot, index) => {
      const job = overviewPlot(experiment.name, experiment.results, plot);
      work.push({
        experiment: experiment.name,
        index,
        title: `${plot.title} (all results)`,
        alt: job.alt,
        path: `results/${experiment.name}/${overviewFile(index)}`,
      });
      jobs.push(renderer.render(job));
    });
  }
  let done = 0;
  const svgs = await Promise.all(
    jobs.map((job) =>
      job.then((svg) => {
        onProgress?.(++done, jobs.length);
        return svg;
      }),
    ),
  );
  return work.map((w, i) => ({ ...w, svg: svgs[i] as string }));
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
