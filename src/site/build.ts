import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigurationError } from '../errors.js';
import { renderRecordPlots } from '../plots/plots.js';
import type { PlotRenderer } from '../plots/render.js';
import type { Problem } from '../problems.js';
import { readResearchRecord } from '../record/research.js';
import type { SchemaValidator } from '../schema/validate.js';
import { STYLE } from './html.js';
import {
  creditPage,
  experimentHref,
  experimentPage,
  indexPage,
  plotHref,
  resultHref,
  resultPage,
  type SiteData,
  timelinePage,
} from './pages.js';
import { readTimeline } from './timeline.js';

/** Marks a directory as a built site, so a rebuild may replace it and nothing else is ever deleted. */
const MARKER = '.axiom-site';

export interface SiteReport {
  out: string;
  experiments: number;
  results: number;
  pages: number;
  plots: number;
  problems: Problem[];
  dryRun: boolean;
}

/** Empties `out` for a rebuild, refusing any non-empty directory that is not a site we built. */
function prepareOut(out: string): void {
  if (existsSync(out) && readdirSync(out).length > 0) {
    if (!existsSync(join(out, MARKER)))
      throw new ConfigurationError(
        `${out} is not empty and is not a site built by axiom site; choose another --out`,
      );
    rmSync(out, { recursive: true, force: true });
  }
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, MARKER), 'built by axiom site; rebuilt from results/ on every run\n');
}

function write(out: string, path: string, text: string): void {
  mkdirSync(dirname(join(out, path)), { recursive: true });
  writeFileSync(join(out, path), text);
}

/**
 * Builds the static site of the research record: plots and pages from one read of results/,
 * manifests and credit files, plus the timeline from git history.
 */
export async function buildSite(options: {
  root: string;
  out: string;
  validator: SchemaValidator;
  renderer: PlotRenderer;
  dryRun: boolean;
  progress?: (line: string) => void;
}): Promise<SiteReport> {
  const record = readResearchRecord(options.root, options.validator);
  const results = record.experiments.reduce((n, e) => n + e.results.length, 0);
  options.progress?.(`site: ${record.experiments.length} experiments, ${results} results`);
  const plots = await renderRecordPlots(record, options.renderer, (done, total) => {
    if (done % 250 === 0 || done === total) options.progress?.(`site: ${done}/${total} plots`);
  });
  const data: SiteData = {
    experiments: record.experiments,
    plots,
    timeline: await readTimeline(options.root),
  };
  const pages: [string, string][] = [
    ['index.html', indexPage(data)],
    ['credit.html', creditPage(data)],
    ['timeline.html', timelinePage(data)],
    ...record.experiments.flatMap((experiment): [string, string][] => [
      [experimentHref(experiment.name), experimentPage(data, experiment)],
      ...experiment.results.map((result): [string, string] => [
        resultHref(experiment.name, result.id),
        resultPage(data, experiment, result),
      ]),
    ]),
  ];
  if (!options.dryRun) {
    prepareOut(options.out);
    write(options.out, 'style.css', STYLE);
    for (const plot of plots) write(options.out, plotHref(plot), plot.svg);
    for (const [path, text] of pages) write(options.out, path, text);
  }
  return {
    out: options.out,
    experiments: record.experiments.length,
    results,
    pages: pages.length,
    plots: plots.length,
    problems: record.problems,
    dryRun: options.dryRun,
  };
}
