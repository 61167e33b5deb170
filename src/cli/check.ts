import { appendFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { openStore } from '../boinc/open.js';
import { planChanges } from '../check/changes.js';
import { renderAnnotations, renderJson, renderMarkdown, renderText } from '../check/report.js';
import { runCheck } from '../check/run.js';
import { UsageError } from '../errors.js';
import { SnapshotFleet } from '../fleet/snapshot.js';
import { countErrors } from '../problems.js';
import { SchemaValidator } from '../schema/validate.js';
import { booleanOption, choiceOption, defineCommand, stringOption } from './command.js';
import { labRoot } from './lab.js';
import { createProgress } from './progress.js';

/** Below this many files, progress is shown only on a terminal. */
const LONG_WORK_FILES = 100;
const FORMATS = ['text', 'json', 'github'] as const;

export const checkCommand = defineCommand({
  name: 'check',
  summary: 'validate manifests and scripts, and show what deploy would create',
  usage: '[paths...]',
  description: [
    'Checks every manifest (manifests/*.yaml) and experiment script (experiments/*.py), or only the',
    'given files and directories: the manifest schema, rules across files (script exists and matches',
    'the name, unique names, target hosts exist in the fleet and meet the resources, limits from',
    'axiom.yaml) and the script policy. A bare .py path checks just that script against the policy.',
    'Then prints the plan: per manifest the workunits deploy would create, hosts, CPU-hours and the',
    'total credit cap. Exit status: 0 clean, 1 on any error, 2 on usage errors.',
  ].join('\n'),
  options: {
    json: { type: 'boolean', description: 'print the report as JSON (same as --format json)' },
    format: {
      type: 'string',
      value: 'FORMAT',
      description: 'text (default), json, or github (annotations and job summary)',
    },
    root: { type: 'string', value: 'DIR', description: 'repository root (default: the current directory)' },
    fleet: {
      type: 'string',
      value: 'FILE',
      description: 'fleet snapshot to check against (default: the one named in axiom.yaml)',
    },
    summary: { type: 'string', value: 'FILE', description: 'also write the report as Markdown to FILE' },
    report: {
      type: 'string',
      value: 'FILE',
      description: 'also write the report as JSON to FILE (for `axiom pr comment --check-report`)',
    },
    base: {
      type: 'string',
      value: 'REF',
      description:
        "show what the changes since REF (a pull request's base: origin/main, or HEAD^1 in GitHub's merge checkout) do to the plan: each workunit new, unchanged or deployed (with AXIOM_DB_URL)",
    },
    quiet: { type: 'boolean', short: 'q', description: 'no progress on stderr' },
  },
  async run(args, { io, env }) {
    const format = booleanOption(args, 'json')
      ? 'json'
      : choiceOption(args, 'check', 'format', FORMATS, 'text');
    // A bare script is checked against the policy alone, anywhere; everything else needs a lab.
    const scriptsOnly = args.positionals.length > 0 && args.positionals.every((p) => p.endsWith('.py'));
    const root = scriptsOnly
      ? resolve(io.cwd, stringOption(args, 'root') ?? '.')
      : labRoot(io.cwd, stringOption(args, 'root'), 'check');
    const validator = new SchemaValidator();
    const fleetFile = stringOption(args, 'fleet');
    const progress = createProgress(io, !booleanOption(args, 'quiet'));
    const report = await runCheck({
      root,
      paths: args.positionals.map((p) => resolve(io.cwd, p)),
      python: env.python,
      validator,
      fleet: fleetFile ? new SnapshotFleet(resolve(io.cwd, fleetFile), fleetFile, validator) : undefined,
      onProgress: (message, files) => {
        if (io.isTTY || files >= LONG_WORK_FILES) progress.update(message);
      },
    });
    progress.done();
    const base = stringOption(args, 'base');
    if (base !== undefined) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._/^~-]{0,200}$/.test(base) || base.includes('..'))
        throw new UsageError(
          `check: --base must be a branch or commit, e.g. origin/main; found "${base}"`,
          'check',
        );
      const store = env.databaseUrl ? openStore(env.databaseUrl) : undefined;
      try {
        report.changes = await planChanges({ root, base, plans: report.plans, ...(store ? { store } : {}) });
      } finally {
        await store?.close();
      }
    }

    if (format === 'json') io.stdout.write(renderJson(report));
    else if (format === 'github') io.stdout.write(renderAnnotations(report.problems) + renderText(report));
    else io.stdout.write(renderText(report));

    const markdown = renderMarkdown(report);
    const summaryFile = stringOption(args, 'summary');
    if (summaryFile) writeFileSync(resolve(io.cwd, summaryFile), markdown);
    const reportFile = stringOption(args, 'report');
    if (reportFile) writeFileSync(resolve(io.cwd, reportFile), renderJson(report));
    if (format === 'github' && env.actions.stepSummary) appendFileSync(env.actions.stepSummary, markdown);
    return countErrors(report.problems) === 0 ? 0 : 1;
  },
});
