import { openForge } from '../forge/open.js';
import { CATALOGUE_ROOT } from '../propose/catalogue.js';
import {
  designerFrom,
  designRequestPreview,
  type ProposeReport,
  proposeExperiments,
} from '../propose/propose.js';
import { SchemaValidator } from '../schema/validate.js';
import { booleanOption, defineCommand, numberOption, stringOption } from './command.js';
import { labRoot } from './lab.js';
import { createProgress } from './progress.js';

const DEFAULT_SMOKE_SECONDS = 20;
const DEFAULT_REPAIRS = 3;

function renderText(report: ProposeReport): string {
  return `${[
    ...report.proposed.map((o) =>
      o.pullRequest
        ? `proposed ${o.name} in ${o.pullRequest.ref} (${o.pullRequest.action})`
        : `wrote ${o.name} (dry run)`,
    ),
    ...report.skipped.map((s) => `skipped ${s.name}: ${s.reason}`),
    ...report.abandoned.map(
      (a) => `gave up a design after ${a.attempts} attempts:\n  ${a.problems.join('\n  ')}`,
    ),
    report.proposed.length === 0 ? 'nothing to propose' : '',
  ]
    .filter(Boolean)
    .join('\n')}\n`;
}

export const proposeCommand = defineCommand({
  name: 'propose',
  summary: 'propose experiments matched to the fleet as pull requests (Claude, or the built-in catalogue)',
  usage: '',
  description: [
    'Proposes experiments the lab does not have yet (by name, script hash or hypothesis) from the',
    'built-in catalogue, the first batch, targeted at hosts of the fleet snapshot that fit them',
    '(--host ID: only that host). Each proposal is checked as axiom check would (schema, rules, script',
    'policy, host fit) and smoke-run through the local runner with its result envelope validated;',
    'one that fails is reported and not proposed. Each becomes a pull request on branch',
    'axiom/propose/<name> (through AXIOM_FORGE) with the script and manifest and a description a',
    'reviewer can decide from. --dry-run writes the files into the checkout and opens nothing.',
    '',
    'With ANTHROPIC_API_KEY, Claude (AXIOM_DESIGN_MODEL) designs new experiments instead, from the',
    'script contract, the policy, the result envelope, the manifest schema, the fleet (what each host',
    'has and runs) and the history of results; a design that fails any check goes back to Claude with',
    'the problems, at most --repairs times, and is then given up with a report.',
    '',
    '--follow-up designs the next round from the last one: the experiments whose results are in and',
    "that nothing builds on yet. With ANTHROPIC_API_KEY Claude designs it from each experiment's",
    "outcomes, the checks that decided them, the spread across hosts and replicas and the reviewers'",
    'edits (at most 12 experiments, 1,600 characters each). Without a key, stated deterministic rules',
    'do, said so in the pull request: an inconclusive result is run again with the work it lacked; a',
    'supported transition is resolved more finely where it happens; a supported law is tested over a',
    'wider range; a result that did not support its hypothesis is replicated on other hosts first. A',
    'follow-up is named <first experiment of its line>_r<round>, cites the results it builds on by',
    'their stable addresses (axiom check refuses one that is not recorded) and says what its outcome',
    'would change. A closed follow-up pull request is a "no", as any proposal\'s.',
  ].join('\n'),
  options: {
    root: {
      type: 'string',
      value: 'DIR',
      description: 'the lab repository (default: the current directory)',
    },
    count: { type: 'string', value: 'N', description: 'propose at most N experiments (default 1)' },
    host: { type: 'string', value: 'ID', description: 'propose only for this host' },
    'smoke-seconds': {
      type: 'string',
      value: 'S',
      description: `budget of the smoke run of each script (default ${DEFAULT_SMOKE_SECONDS}; 0 skips it)`,
    },
    repairs: {
      type: 'string',
      value: 'N',
      description: `with Claude: send a failing design back at most N times (default ${DEFAULT_REPAIRS})`,
    },
    'dry-run': {
      type: 'boolean',
      description:
        'write the files into the checkout; open no pull request (with Claude: ask nothing, print the request; --spend to design)',
    },
    spend: { type: 'boolean', description: 'with --dry-run: let Claude design, which costs money' },
    'print-request': {
      type: 'boolean',
      description: 'print the exact design request (JSON) with estimated tokens and cost; ask nothing',
    },
    'follow-up': {
      type: 'boolean',
      description:
        "design the next round from the last one's outcomes (Claude, or the stated rules without a key)",
    },
    json: { type: 'boolean', description: 'report as JSON' },
  },
  async run(args, { io, env }) {
    const root = labRoot(io.cwd, stringOption(args, 'root'), 'propose');
    const host = numberOption(args, 'propose', 'host', { min: 1, integer: true });
    const designer = designerFrom(env.claude);
    const dryRun = booleanOption(args, 'dry-run');
    const followUp = booleanOption(args, 'follow-up');
    // A dry run never spends money unless told to; --print-request never asks at all.
    if (
      booleanOption(args, 'print-request') ||
      (dryRun && designer.claude && !booleanOption(args, 'spend'))
    ) {
      if (!designer.claude) {
        io.stdout.write(
          `no ANTHROPIC_API_KEY: proposals come from ${followUp ? 'the stated follow-up rules' : 'the built-in catalogue'}; no request would be sent\n`,
        );
        return 0;
      }
      const preview = await designRequestPreview({
        root,
        catalogueRoot: env.catalogue.dir ?? CATALOGUE_ROOT,
        validator: new SchemaValidator(),
        ...(host !== undefined ? { host } : {}),
        claude: designer.claude,
        followUp,
      });
      io.stdout.write(
        `${JSON.stringify({ estimated_input_tokens: preview.estimatedInputTokens, worst_case_usd: preview.worstCaseUsd, params: preview.body })}\n`,
      );
      io.stderr.write(
        `axiom propose: nothing was sent to Claude${dryRun ? ' (a dry run asks nothing; --spend designs for real without opening pull requests)' : ''}\n`,
      );
      return 0;
    }
    const progress = createProgress(io);
    const report = await proposeExperiments({
      root,
      catalogueRoot: env.catalogue.dir ?? CATALOGUE_ROOT,
      validator: new SchemaValidator(),
      python: env.python,
      count: numberOption(args, 'propose', 'count', { min: 1, integer: true }) ?? 1,
      ...(host !== undefined ? { host } : {}),
      smokeSeconds: numberOption(args, 'propose', 'smoke-seconds', { min: 0 }) ?? DEFAULT_SMOKE_SECONDS,
      repairs: numberOption(args, 'propose', 'repairs', { min: 0, integer: true }) ?? DEFAULT_REPAIRS,
      ...designer,
      followUp,
      ...(env.catalogue.runDuration !== undefined ? { scaledRunDuration: env.catalogue.runDuration } : {}),
      ...(dryRun
        ? {}
        : {
            forge: await openForge({
              settings: env.forge,
              repoDir: root,
              log: (l) => io.stderr.write(`${l}\n`),
            }),
          }),
      onProgress: (l) => progress.update(l),
    });
    progress.done();
    io.stdout.write(
      booleanOption(args, 'json') ? `${JSON.stringify(report, null, 2)}\n` : renderText(report),
    );
    return report.abandoned.length > 0 && report.proposed.length === 0 ? 1 : 0;
  },
});
