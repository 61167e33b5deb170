import { migrateRecord } from '../collect/migrate.js';
import { SchemaValidator } from '../schema/validate.js';
import { booleanOption, defineCommand, stringOption } from './command.js';
import { labRoot } from './lab.js';

export const migrateCommand = defineCommand({
  name: 'migrate',
  summary: 'rewrite a folder-per-result record into the batch layout',
  usage: '',
  description: [
    'Records written before batches keep a folder per result (results/<experiment>/<id>/result.json,',
    'review.json, review.md, plot-<n>.svg) and overviews. This rewrites them into the batch layout:',
    "each run's results of an experiment become results/<experiment>/<run>.jsonl (one line per result)",
    'and <run>.md (the review, flagged results first), and the folders and overviews are removed.',
    'Credit files stay as they are. Both layouts are read meanwhile, so nothing waits on this. A',
    'result without a readable review.json is left in place and listed. Commit the change as one',
    'pull request; `axiom plots` then draws the batch plots. Running it again changes nothing.',
  ].join('\n'),
  options: {
    root: { type: 'string', value: 'DIR', description: 'repository root (default: the current directory)' },
    'dry-run': { type: 'boolean', description: 'report what would be written and removed; change nothing' },
    json: { type: 'boolean', description: 'report as JSON' },
  },
  async run(args, { io }) {
    const root = labRoot(io.cwd, stringOption(args, 'root'), 'migrate');
    const dryRun = booleanOption(args, 'dry-run');
    const report = migrateRecord({ root, validator: new SchemaValidator(), dryRun });
    const verb = (done: string, would: string) => (dryRun ? would : done);
    io.stdout.write(
      booleanOption(args, 'json')
        ? `${JSON.stringify(report, null, 2)}\n`
        : [
            ...report.written.map((p) => `${verb('wrote', 'would write')} ${p}`),
            ...report.leftInPlace.map(
              (l) => `left in place: result ${l.result} of ${l.experiment}: ${l.reason}`,
            ),
            `${report.moved} results ${verb('moved', 'would move')} into the batch layout; ${report.written.length} files ${verb('written', 'would be written')}, ${report.removed.length} ${verb('removed', 'would be removed')}`,
            '',
          ].join('\n'),
    );
    return report.leftInPlace.length > 0 ? 1 : 0;
  },
});
