import { resolve } from 'node:path';
import type { Environment } from '../env/environment.js';
import { UsageError } from '../errors.js';
import { PlotRenderer } from '../plots/render.js';
import { formatProblem } from '../problems.js';
import { SchemaValidator } from '../schema/validate.js';
import { buildSite } from '../site/build.js';
import { booleanOption, defineCommand, numberOption, stringOption } from './command.js';
import { labRoot } from './lab.js';
import { createProgress } from './progress.js';

export const siteCommand = defineCommand({
  name: 'site',
  summary: 'build the static site of the research record (experiments, results, plots, credit, timeline)',
  usage: '',
  description: [
    'Builds plain HTML and CSS, without JavaScript, from results/, manifests/, the credit files and the',
    'git history: an index of experiments with their hypothesis, status, latest headline figure and',
    'overview plot; a page per experiment and per result; credit per host and user; and a timeline.',
    'Plots are rendered (Vega-Lite to SVG) in the same pass. The output directory is replaced on each',
    'build; a non-empty directory that is not a built site is never touched.',
  ].join('\n'),
  options: {
    root: { type: 'string', value: 'DIR', description: 'repository root (default: the current directory)' },
    out: { type: 'string', value: 'DIR', description: 'where to write the site (default: _site)' },
    threads: { type: 'string', value: 'N', description: 'plot rendering threads (default: one per core)' },
    'repo-url': {
      type: 'string',
      value: 'URL',
      description:
        'the repository on GitHub, for links to commits, files and pull requests (default: from GITHUB_SERVER_URL and GITHUB_REPOSITORY when set)',
    },
    'dry-run': { type: 'boolean', description: 'build everything in memory and report; write nothing' },
    json: { type: 'boolean', description: 'report as JSON' },
  },
  async run(args, { io, env }) {
    const root = labRoot(io.cwd, stringOption(args, 'root'), 'site');
    const out = resolve(io.cwd, stringOption(args, 'out') ?? '_site');
    const threads = numberOption(args, 'site', 'threads', { min: 1, integer: true });
    const progress = createProgress(io);
    const renderer = new PlotRenderer(threads);
    try {
      const report = await buildSite({
        root,
        out,
        validator: new SchemaValidator(),
        renderer,
        dryRun: booleanOption(args, 'dry-run'),
        ...repoUrlOf(stringOption(args, 'repo-url'), env),
        progress: (line) => progress.update(line),
      });
      progress.done();
      io.stdout.write(
        booleanOption(args, 'json')
          ? `${JSON.stringify(report, null, 2)}\n`
          : [
              ...report.problems.map((p) => formatProblem(p)),
              `${report.dryRun ? 'would write' : 'wrote'} ${report.pages} pages and ${report.plots} plots for ${report.experiments} experiments and ${report.results} results${report.dryRun ? '' : ` to ${out}`}`,
              '',
            ].join('\n'),
      );
      return 0;
    } finally {
      await renderer.close();
    }
  },
});

function repoUrlOf(given: string | undefined, env: Environment): { repoUrl?: string } {
  if (given !== undefined) {
    if (!/^https?:\/\/[^\s/]+\/[^\s]+$/.test(given))
      throw new UsageError(
        `site: --repo-url must be a repository's web address, e.g. https://github.com/owner/lab; found "${given}"`,
        'site',
      );
    return { repoUrl: given };
  }
  const { repository, serverUrl } = env.forge.github;
  return repository ? { repoUrl: `${serverUrl}/${repository}` } : {};
}
