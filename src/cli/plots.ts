import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomically } from '../atomic-write.js';
import { renderRecordPlots, withPlotsSection } from '../plots/plots.js';
import { PlotRenderer } from '../plots/render.js';
import { formatProblem } from '../problems.js';
import { readResearchRecord } from '../record/research.js';
import { REVIEW_MD } from '../record/review.js';
import { SchemaValidator } from '../schema/validate.js';
import { booleanOption, defineCommand, stringOption } from './command.js';
import { createProgress } from './progress.js';

export const plotsCommand = defineCommand({
  name: 'plots',
  summary: "render each result's plots and each experiment's overview as SVG beside the results",
  usage: '',
  description: [
    'Renders the plots every manifest declares (outputs.plots) for each result under results/, as',
    'results/<experiment>/<result>/plot-<n>.svg, and one overview per plot combining all results of',
    'the experiment (results/<experiment>/overview-<n>.svg), and embeds them in each review.md, so',
    "they show in a pull request's file view. Files whose content is unchanged are not rewritten.",
  ].join('\n'),
  options: {
    root: { type: 'string', value: 'DIR', description: 'repository root (default: the current directory)' },
    'dry-run': { type: 'boolean', description: 'render and report what would change; write nothing' },
    json: { type: 'boolean', description: 'report as JSON' },
  },
  async run(args, { io }) {
    const root = resolve(io.cwd, stringOption(args, 'root') ?? '.');
    const dryRun = booleanOption(args, 'dry-run');
    const record = readResearchRecord(root, new SchemaValidator());
    const progress = createProgress(io);
    const renderer = new PlotRenderer();
    let plots: Awaited<ReturnType<typeof renderRecordPlots>>;
    try {
      plots = await renderRecordPlots(record, renderer, (done, total) => {
        if (done % 250 === 0 || done === total) progress.update(`plots: ${done}/${total}`);
      });
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
    for (const plot of plots) write(plot.path, plot.svg);
    for (const experiment of record.experiments)
      for (const result of experiment.results) {
        const review = join(root, result.dir, REVIEW_MD);
        const own = plots.filter((p) => p.experiment === experiment.name && p.result === result.id);
        if (existsSync(review) && own.length > 0)
          write(`${result.dir}/${REVIEW_MD}`, withPlotsSection(readFileSync(review, 'utf8'), own));
      }
    const report = { plots: plots.length, changed, dryRun, problems: record.problems };
    io.stdout.write(
      booleanOption(args, 'json')
        ? `${JSON.stringify(report, null, 2)}\n`
        : [
            ...record.problems.map((p) => formatProblem(p)),
            ...changed.map((p) => `${dryRun ? 'would write' : 'wrote'} ${p}`),
            `${plots.length} plots, ${changed.length} file${changed.length === 1 ? '' : 's'} ${dryRun ? 'would change' : 'changed'}`,
            '',
          ].join('\n'),
    );
    return 0;
  },
});
