import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomically } from '../atomic-write.js';
import { type RenderedPlot, renderBatchPlots, withPlotsSection } from '../plots/plots.js';
import { PlotRenderer } from '../plots/render.js';
import { formatProblem } from '../problems.js';
import { reviewFile } from '../record/layout.js';
import { type ResultRecord, readResearchRecord } from '../record/research.js';
import { SchemaValidator } from '../schema/validate.js';
import { booleanOption, defineCommand, stringOption } from './command.js';
import { labRoot } from './lab.js';
import { createProgress } from './progress.js';

export const plotsCommand = defineCommand({
  name: 'plots',
  summary: "render each batch's plots as SVG beside its review",
  usage: '',
  description: [
    'Renders the plots every manifest declares (outputs.plots) for each batch of results under',
    "results/: results/<experiment>/<batch>-plot-<n>.svg, the batch's median and 10th to 90th",
    "percentile band with its flagged results drawn on their own, and embeds them in the batch's",
    'review (<batch>.md), so they show in the file view. For batches collected with --no-plots, or',
    "after a manifest's plots changed. Files whose content is unchanged are not rewritten. Each",
    "result's own plots are drawn by axiom site.",
  ].join('\n'),
  options: {
    root: { type: 'string', value: 'DIR', description: 'repository root (default: the current directory)' },
    'dry-run': { type: 'boolean', description: 'render and report what would change; write nothing' },
    json: { type: 'boolean', description: 'report as JSON' },
  },
  async run(args, { io }) {
    const root = labRoot(io.cwd, stringOption(args, 'root'), 'plots');
    const dryRun = booleanOption(args, 'dry-run');
    const record = readResearchRecord(root, new SchemaValidator());
    const progress = createProgress(io);
    const renderer = new PlotRenderer();
    const plots: { batch: string; experiment: string; plots: RenderedPlot[] }[] = [];
    try {
      const batches = record.experiments.flatMap((e) => {
        const byBatch = new Map<string, ResultRecord[]>();
        for (const r of e.results) if (r.batch) byBatch.set(r.batch, [...(byBatch.get(r.batch) ?? []), r]);
        return [...byBatch.entries()].map(([batch, results]) => ({ experiment: e, batch, results }));
      });
      for (const [i, { experiment, batch, results }] of batches.entries()) {
        const flagged = new Set(
          results
            .filter((r) => r.review?.verdict !== 'valid' || (r.review?.flags ?? []).length > 0)
            .map((r) => r.id),
        );
        plots.push({
          batch,
          experiment: experiment.name,
          plots: await renderBatchPlots({ ...experiment, results }, batch, flagged, renderer),
        });
        progress.update(`plots: ${i + 1}/${batches.length} batches`);
      }
    } finally {
      progress.done();
      await renderer.close();
    }
    const changed: string[] = [];
    // Unchanged files are left alone, so a rerun changes nothing in git.
    const write = (path: string, text: string) => {
      const same = existsSync(join(root, path)) && readFileSync(join(root, path), 'utf8') === text;
      if (same) return;
      changed.push(path);
      if (!dryRun) writeFileAtomically(join(root, path), text);
    };
    for (const batch of plots) {
      for (const plot of batch.plots) write(plot.path as string, plot.svg);
      const review = reviewFile(batch.experiment, batch.batch);
      if (existsSync(join(root, review)) && batch.plots.length > 0)
        write(review, withPlotsSection(readFileSync(join(root, review), 'utf8'), batch.plots));
    }
    const count = plots.reduce((n, b) => n + b.plots.length, 0);
    const report = { plots: count, changed, dryRun, problems: record.problems };
    io.stdout.write(
      booleanOption(args, 'json')
        ? `${JSON.stringify(report, null, 2)}\n`
        : [
            ...record.problems.map((p) => formatProblem(p)),
            ...changed.map((p) => `${dryRun ? 'would write' : 'wrote'} ${p}`),
            `${count} plots, ${changed.length} file${changed.length === 1 ? '' : 's'} ${dryRun ? 'would change' : 'changed'}`,
            '',
          ].join('\n'),
    );
    return 0;
  },
});
