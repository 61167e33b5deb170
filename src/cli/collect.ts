import { resolve } from 'node:path';
import { openStore } from '../boinc/open.js';
import type { BoincStore } from '../boinc/store.js';
import { ClaudeJudge } from '../collect/claude-judge.js';
import { type CollectOutcome, collect } from '../collect/collect.js';
import { type ResultJudge, RulesJudge } from '../collect/judge.js';
import { addPlots } from '../collect/plots.js';
import { loadConfig } from '../config/config.js';
import { ConfigurationError, UsageError } from '../errors.js';
import type { Forge, OpenOutcome } from '../forge/forge.js';
import { openForge } from '../forge/open.js';
import { PlotRenderer } from '../plots/render.js';
import { formatProblem } from '../problems.js';
import { SchemaValidator } from '../schema/validate.js';
import { booleanOption, type Command, type Io, numberOption, stringOption } from './command.js';
import { createProgress } from './progress.js';

/** One results pull request at a time: every collection run adds to the open one. */
export const RESULTS_BRANCH = 'axiom/results';
const RUN = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{6}Z$/;
/** Above this many new results a run gets overview plots only: nobody reviews thousands of plots. */
const PLOT_LIMIT = 1000;
/** Judging is high volume and low effort: the small fast model. */
export const DEFAULT_JUDGE_MODEL = 'claude-haiku-5-5';

export function runId(now: Date): string {
  return now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
    .replace(/^(\d{4})(\d\d)(\d\d)/, '$1-$2-$3');
}

/** The pull request description: what a reviewer decides from. */
export function resultsBody(outcome: CollectOutcome, judgedBy: string): string {
  const byExperiment = new Map<
    string,
    { n: number; valid: number; suspicious: number; invalid: number; credit: number }
  >();
  for (const item of outcome.collected) {
    const row = byExperiment.get(item.experiment) ?? { n: 0, valid: 0, suspicious: 0, invalid: 0, credit: 0 };
    row.n += 1;
    row[item.judgement.verdict] += 1;
    row.credit += item.credit;
    byExperiment.set(item.experiment, row);
  }
  const total = outcome.collected.reduce((s, i) => s + i.credit, 0);
  const mode =
    judgedBy === 'rules'
      ? '**Judged by the deterministic rules alone** (no model was asked): a result that passes every check is valid, and its quality is how much of the acceptance it meets.'
      : `Judged by ${judgedBy} after the deterministic checks; the model grades, but the checks and code decide what can be paid.`;
  const calls = outcome.collected.flatMap((c) => (c.provenance ? [c.provenance] : []));
  const cost = calls.length
    ? [
        '',
        `Model calls: ${calls.length} (${calls.filter((c) => c.batched).length} batched), ${calls.reduce((s, c) => s + c.inputTokens, 0)} input tokens (${calls.reduce((s, c) => s + c.cacheReadTokens, 0)} from cache), ${calls.reduce((s, c) => s + c.outputTokens, 0)} output tokens, $${calls.reduce((s, c) => s + c.costUsd, 0).toFixed(4)}.`,
      ]
    : [];
  return [
    `## Results of collection run ${outcome.run}`,
    '',
    mode,
    ...cost,
    '',
    '| experiment | results | valid | suspicious | invalid | proposed credit |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...[...byExperiment.entries()].map(
      ([name, r]) => `| ${name} | ${r.n} | ${r.valid} | ${r.suspicious} | ${r.invalid} | ${r.credit} |`,
    ),
    '',
    `Proposed credit in total: **${total}**. Each result has a folder under \`results/<experiment>/<result>/\` with the sanitised result and a \`review.md\`. Credit is listed in \`results/credit/${outcome.run}.yaml\`: edit an amount there before merging if you disagree. Merging grants exactly what that file says, once per result.`,
    '',
  ].join('\n');
}

async function alreadyProposed(forge: Forge): Promise<Set<number>> {
  const open = await forge.findOpen(RESULTS_BRANCH);
  if (!open) return new Set();
  const files = await forge.listFiles(open, 'results/');
  return new Set(
    files.flatMap((f) => {
      const match = /^results\/[a-z][a-z0-9_]{2,47}\/([0-9]{1,12})\//.exec(f);
      return match ? [Number(match[1])] : [];
    }),
  );
}

/** Claude when ANTHROPIC_API_KEY is set, else the deterministic rules alone. */
async function judgeFor(io: Io): Promise<ResultJudge> {
  const apiKey = io.env.ANTHROPIC_API_KEY;
  if (!apiKey) return new RulesJudge();
  const batchFrom = Number(io.env.AXIOM_JUDGE_BATCH_FROM ?? 20);
  if (!Number.isInteger(batchFrom) || batchFrom < 1)
    throw new ConfigurationError(
      `AXIOM_JUDGE_BATCH_FROM must be a positive integer; found "${io.env.AXIOM_JUDGE_BATCH_FROM}"`,
    );
  // The SDK is loaded only when Claude is used.
  const { ClaudeLlm } = await import('../claude/claude.js');
  const llm = new ClaudeLlm({
    apiKey,
    ...(io.env.ANTHROPIC_BASE_URL ? { baseURL: io.env.ANTHROPIC_BASE_URL } : {}),
    ...(io.env.AXIOM_BATCH_POLL_MS
      ? { pollMs: { start: Number(io.env.AXIOM_BATCH_POLL_MS), max: Number(io.env.AXIOM_BATCH_POLL_MS) * 8 } }
      : {}),
  });
  return new ClaudeJudge(llm, { model: io.env.AXIOM_JUDGE_MODEL || DEFAULT_JUDGE_MODEL, batchFrom });
}

function openDb(io: Io): BoincStore | undefined {
  const url = io.env.AXIOM_DB_URL;
  return url ? openStore(url, io.cwd) : undefined;
}

export const collectCommand: Command = {
  name: 'collect',
  summary: 'check and judge new volunteer results and propose them, with credit, as a results pull request',
  usage: '',
  description: [
    'Reads the spool axiom assimilate fills (AXIOM_SPOOL_DIR, or --spool), skips results already in',
    'results/ or in the open results pull request, checks each new result by deterministic rules',
    '(envelope, declared outputs, finite numbers, runtime, seed and script echoed, the BOINC result row',
    'when AXIOM_DB_URL is set, payload size, copies from other hosts, same-seed replicas), judges the',
    'eligible ones, and decides credit in code: the credit cap times quality, zero for anything not',
    'valid or not eligible, at most the per-host daily limit. The results pull request (branch',
    `${RESULTS_BRANCH}, through AXIOM_FORGE) gets a folder per result and one credit file per run; an`,
    'open one is updated, never duplicated; each new result comes with its plots, embedded in its',
    'review.md, and each experiment with a refreshed overview. With ANTHROPIC_API_KEY, Claude',
    '(AXIOM_JUDGE_MODEL) grades the eligible results, through the Message Batches API from',
    'AXIOM_JUDGE_BATCH_FROM results on (default 20); without it the rules judge alone.',
  ].join('\n'),
  options: {
    root: { type: 'string', value: 'DIR', description: 'repository root (default: the current directory)' },
    spool: { type: 'string', value: 'DIR', description: 'the spool directory (default: AXIOM_SPOOL_DIR)' },
    run: {
      type: 'string',
      value: 'ID',
      description: 'collection run id, e.g. 2026-11-25T120000Z (default: now)',
    },
    'dry-run': { type: 'boolean', description: 'check and judge, then report; write and open nothing' },
    json: { type: 'boolean', description: 'report as JSON' },
  },
  async run(args, io) {
    const root = resolve(io.cwd, stringOption(args, 'root') ?? '.');
    const spool = stringOption(args, 'spool') ?? io.env.AXIOM_SPOOL_DIR;
    if (!spool)
      throw new ConfigurationError(
        'AXIOM_SPOOL_DIR is not set and --spool is not given; expected the spool directory axiom assimilate writes',
      );
    const run = stringOption(args, 'run') ?? runId(new Date());
    if (!RUN.test(run))
      throw new UsageError(`axiom collect: --run must look like 2026-11-25T120000Z; found "${run}"`);
    const dryRun = booleanOption(args, 'dry-run');
    const validator = new SchemaValidator();
    const { config, problems: configProblems } = loadConfig(root, validator);
    const forge = await openForge({ env: io.env, repoDir: root, log: (l) => io.stderr.write(`${l}\n`) });
    const store = openDb(io);
    const progress = createProgress(io);
    const judge = await judgeFor(io);
    let outcome: CollectOutcome;
    try {
      outcome = await collect({
        root,
        spoolDir: resolve(io.cwd, spool),
        proposed: await alreadyProposed(forge),
        ...(store ? { store } : {}),
        validator,
        judge,
        run,
        hostDayLimit: config.limits.creditPerHostDay,
        progress: (line) => progress.update(line),
      });
    } finally {
      progress.done();
      await store?.close();
    }
    if (!booleanOption(args, 'no-plots') && outcome.collected.length > 0) {
      const limit = numberOption(args, 'collect', 'plot-limit', { min: 0, integer: true }) ?? PLOT_LIMIT;
      // Overviews alone are a handful of plots: one thread is enough and keeps memory low.
      const renderer = new PlotRenderer(outcome.collected.length <= limit ? undefined : 1);
      try {
        await addPlots(outcome, renderer, limit);
      } finally {
        await renderer.close();
      }
    }
    let pr: OpenOutcome | undefined;
    if (!dryRun && outcome.collected.length > 0)
      pr = await forge.openOrUpdate({
        branch: RESULTS_BRANCH,
        base: 'main',
        title: `Results: ${outcome.collected.length} new (run ${run})`,
        body: resultsBody(outcome, judge.name),
        labels: ['axiom:results', `axiom:judged-by-${judge.name}`],
        commitMessage: `Results of collection run ${run}: ${outcome.collected.length} results`,
        files: outcome.files,
      });
    const problems = [...configProblems, ...outcome.problems];
    const summary = {
      run,
      collected: outcome.collected.map((c) => ({
        result: c.resultId,
        experiment: c.experiment,
        host: c.host,
        verdict: c.judgement.verdict,
        quality: c.judgement.quality,
        credit: c.credit,
        failed: c.checks.filter((k) => !k.passed).map((k) => k.rule),
      })),
      skipped: outcome.skipped,
      pullRequest: pr ? { ref: pr.pullRequest.ref, url: pr.pullRequest.url, action: pr.action } : null,
      dryRun,
      problems,
    };
    const text = [
      ...problems.map((p) => formatProblem(p)),
      ...summary.collected.map(
        (c) =>
          `${c.result} ${c.experiment} host ${c.host}: ${c.verdict}, credit ${c.credit}${c.failed.length ? ` (failed: ${c.failed.join(', ')})` : ''}`,
      ),
      outcome.collected.length === 0
        ? `nothing new to collect (${outcome.skipped} already collected)`
        : `${outcome.collected.length} results ${dryRun ? 'would be proposed' : `proposed in ${pr?.pullRequest.ref} (${pr?.action})`}`,
      '',
    ].join('\n');
    io.stdout.write(booleanOption(args, 'json') ? `${JSON.stringify(summary, null, 2)}\n` : text);
    return 0;
  },
};
