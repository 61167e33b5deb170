import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DemoReport, runDemo } from '../demo/demo.js';
import { booleanOption, defineCommand, numberOption, stringOption } from './command.js';
import { createProgress } from './progress.js';

const DEFAULT_BUDGET = 30;

/**
 * The CLI as a command that runs as printed, wherever the reader's shell is: this installation's
 * own entry point (`axiom` may not be on PATH, and `npx axiom` outside this repository would fetch
 * another package).
 */
const AXIOM = `node ${fileURLToPath(new URL('../../bin/axiom.js', import.meta.url))}`;

function renderText(report: DemoReport): string {
  const { paths } = report;
  if (report.waiting) {
    const { pullRequests } = report.waiting;
    return [
      `${pullRequests.length} pull request${pullRequests.length === 1 ? ' waits' : 's wait'} for your approval (${pullRequests.join(', ')}).`,
      `Review them with \`${AXIOM} pr show <name>\` in ${paths.lab}; approve the ones you want with \`${AXIOM} pr merge <name>\` (and \`pr close <name>\` the ones you decline), then continue with what you approved:`,
      `  ${AXIOM} demo --dir ${paths.dir}`,
      `or approve all of them and continue with:`,
      `  ${AXIOM} demo --dir ${paths.dir} --yes`,
      ...droppedLines('Not proposed', report.dropped),
      '',
    ].join('\n');
  }
  const list = (entries: [string | number, number][]) =>
    entries.map(([k, v]) => `${k}: ${v}`).join(', ') || 'none';
  const verdicts = Object.entries(report.verdicts).map(([v, n]) => `${n} ${v}`);
  const outcomes = Object.entries(report.outcomes).map(([o, n]) => `${n} ${o}`);
  return [
    '',
    report.secondRound
      ? `The loop ran in ${report.seconds} s, the first round in ${report.seconds - report.secondRound.seconds} s: ${report.experiments.length} experiments produced results this run.`
      : `The loop ran in ${report.seconds} s: ${report.experiments.length} experiments produced results this run.`,
    ...budgetLines(report),
    `What the results say of their hypotheses: ${outcomes.join(', ') || 'nothing new'} (by the acceptance checks; too little work reads as inconclusive, never as not supported).`,
    `What is paid: ${verdicts.join(', ') || 'none new'} (valid results are paid).`,
    ...droppedLines('Not proposed in the first round', report.dropped),
    ...secondRoundLines(report),
    `Credit per host: ${list(report.creditPerHost.map((h) => [h.host, h.credit]))}.`,
    `Credit per user: ${list(report.creditPerUser.map((u) => [u.user, u.credit]))}.`,
    ...(report.stillWaiting.length
      ? [
          `Still waiting for your approval: ${report.stillWaiting.join(', ')} (\`${AXIOM} pr merge <name>\` or \`pr close <name>\` in ${paths.lab}, then run the demo again).`,
        ]
      : []),
    `Pull requests: ${AXIOM} pr list --all, in ${paths.lab} (the origin is ${paths.origin}).`,
    `The demo's BOINC store: ${paths.store} (commands run in the lab use it and the demo's spool without AXIOM_DB_URL; try \`${AXIOM} credit status\`).`,
    `Results: ${resolve(paths.lab, 'results')}`,
    `Site: ${report.siteIndex}`,
    '',
  ].join('\n');
}

/** What a round did not propose, each with why: a reader is never left to count. */
function droppedLines(heading: string, dropped: readonly { name: string; reason: string }[]): string[] {
  return dropped.length ? [`${heading}:`, ...dropped.map((d) => `- ${d.name}: ${d.reason}`)] : [];
}

/** What the second round did: follow-ups of the first round's outcomes, and what each changed. */
function secondRoundLines(report: DemoReport): string[] {
  const round = report.secondRound;
  if (!round) return [];
  const by = round.designedBy === 'claude' ? 'designed by Claude' : 'by the stated rules, no model';
  const outcomes = Object.entries(round.outcomes).map(([o, n]) => `${n} ${o}`);
  return [
    `The second round (follow-ups designed from the first round's outcomes with axiom propose --follow-up, ${by}) took ${round.seconds} s: ${round.experiments.length} follow-up${round.experiments.length === 1 ? '' : 's'} produced results this run${outcomes.length ? ` (${outcomes.join(', ')})` : ''}.`,
    ...(round.waiting.length
      ? [
          `Waiting for your approval in the second round: ${round.waiting.join(', ')} (merge them and run the demo again).`,
        ]
      : []),
    ...droppedLines('Not followed up', round.dropped),
    ...(round.changes.length ? ['What the second round changed:'] : []),
    ...round.changes.map(
      (c) =>
        `- ${c.experiment} (${c.rule ?? 'designed by Claude'}, from ${c.parent}): ${c.before} -> ${c.after}: ${c.changed}.`,
    ),
    `Lines of inquiry: ${resolve(report.siteIndex, '..', 'lineage.html')}`,
  ];
}

/** The demonstration's budgets as a share of production's, and the machine they were sized for. */
function budgetLines(report: DemoReport): string[] {
  const scaled = report.budgets.filter((b) => b.production !== undefined && b.production > b.seconds);
  if (scaled.length === 0) return [];
  const shares = scaled.map((b) => b.seconds / (b.production as number));
  const low = Math.round(Math.min(...shares) * 100);
  const high = Math.round(Math.max(...shares) * 100);
  const machine = report.benchmark
    ? ` sized for this machine as measured when the demo ran (${report.benchmark.gflopsPerCore} GFLOPS per core on ${report.benchmark.cores} cores, ${report.benchmark.blas ?? 'BLAS unknown'})`
    : '';
  return [
    `These are demonstration runs: each got ${low === high ? `${low}%` : `${low}-${high}%`} of a production run's budget (${scaled.map((b) => `${b.experiment} ${b.seconds} s of ${b.production} s`).join(', ')}),${machine}, with the work its preconditions need: a fraction of what production does.`,
  ];
}

export const demoCommand = defineCommand({
  name: 'demo',
  summary:
    'run the whole research loop on this machine, two rounds: propose, approve, deploy, run, judge, credit, site, follow up',
  usage: '',
  description: [
    'Creates a demo lab in --dir (a git repository with a bare origin as its forge, and the embedded',
    'BOINC store with the first-batch fleet) and runs the loop: propose (Claude with ANTHROPIC_API_KEY,',
    'else the built-in catalogue, at --budget seconds per experiment) -> proposal pull requests ->',
    'approval (--yes merges them; otherwise it stops and says how) -> check -> deploy -> every workunit',
    'run by the reference volunteer client from the wu.json deploy staged, as many at once as there',
    'are cores -> assimilate -> collect and judge -> results pull request -> approval -> credit -> site.',
    "Then a second round: follow-ups designed from the first round's outcomes (axiom propose",
    '--follow-up: the stated rules without a key, Claude with one; at most 4), run through the same',
    'loop; the summary says what each changed and where the site draws the lines of inquiry.',
    'Running it again reuses what exists and does only what is missing; --fresh starts over.',
  ].join('\n'),
  options: {
    dir: { type: 'string', value: 'DIR', description: 'where the demo lab lives (default: axiom-demo)' },
    yes: { type: 'boolean', description: 'approve (merge) the pull requests the demo opens' },
    budget: {
      type: 'string',
      value: 'S',
      description: `seconds each experiment runs (default ${DEFAULT_BUDGET})`,
    },
    fresh: { type: 'boolean', description: 'delete the demo lab first and start over' },
    json: { type: 'boolean', description: 'print the summary as JSON' },
  },
  async run(args, { io, env }) {
    const progress = createProgress(io);
    const report = await runDemo({
      dir: resolve(io.cwd, stringOption(args, 'dir') ?? 'axiom-demo'),
      budget: numberOption(args, 'demo', 'budget', { min: 5, integer: true }) ?? DEFAULT_BUDGET,
      yes: booleanOption(args, 'yes'),
      fresh: booleanOption(args, 'fresh'),
      python: env.python,
      claude: env.claude,
      say: (line) => {
        progress.done();
        io.stderr.write(`${line}\n`);
      },
      progress: (line) => progress.update(line),
    });
    progress.done();
    io.stdout.write(
      booleanOption(args, 'json') ? `${JSON.stringify(report, null, 2)}\n` : renderText(report),
    );
    return 0;
  },
});
