import type { Forge, OpenOutcome } from '../forge/forge.js';
import { EXPERIMENT_NAME_PATTERN } from '../manifest/name.js';
import { PlotRenderer } from '../plots/render.js';
import type { Problem } from '../problems.js';
import { type CollectOptions, type CollectOutcome, collect } from './collect.js';
import { addPlots } from './plots.js';

/** One results pull request at a time: every collection run adds to the open one. */
export const RESULTS_BRANCH = 'axiom/results';
/** A collection run's id: its start in UTC, e.g. 2026-11-25T120000Z. */
export const RUN_ID = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{6}Z$/;
/** Above this many new results a run gets overview plots only: nobody reviews thousands of plots. */
export const PLOT_LIMIT = 1000;
const RESULT_PATH = new RegExp(`^results/${EXPERIMENT_NAME_PATTERN}/([0-9]{1,12})/`);

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
    { n: number; valid: number; suspicious: number; invalid: number; credit: number; unsandboxed: number }
  >();
  for (const item of outcome.collected) {
    const row = byExperiment.get(item.experiment) ?? {
      n: 0,
      valid: 0,
      suspicious: 0,
      invalid: 0,
      credit: 0,
      unsandboxed: 0,
    };
    row.n += 1;
    row[item.judgement.verdict] += 1;
    row.credit += item.credit;
    if (item.isolation !== 'sandbox') row.unsandboxed += 1;
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
    '| experiment | results | valid | suspicious | invalid | proposed credit | not sandboxed |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...[...byExperiment.entries()].map(
      ([name, r]) =>
        `| ${name} | ${r.n} | ${r.valid} | ${r.suspicious} | ${r.invalid} | ${r.credit} | ${r.unsandboxed} |`,
    ),
    '',
    '"Not sandboxed": results whose volunteer client ran the script with resource limits only (no sandbox on that host) or did not say; each review.md names its isolation.',
    '',
    `Proposed credit in total: **${total}**. Each result has a folder under \`results/<experiment>/<result>/\` with the sanitised result and a \`review.md\`. Credit is listed in \`results/credit/${outcome.run}.yaml\`: edit an amount there before merging if you disagree. Merging grants exactly what that file says, once per result.`,
    '',
  ].join('\n');
}

/** Results already proposed in the open results pull request. */
async function alreadyProposed(forge: Forge): Promise<Set<number>> {
  const open = await forge.findOpen(RESULTS_BRANCH);
  if (!open) return new Set();
  const files = await forge.listFiles(open, 'results/');
  return new Set(
    files.flatMap((f) => {
      const match = RESULT_PATH.exec(f);
      return match ? [Number(match[1])] : [];
    }),
  );
}

export interface CollectResultsOptions extends Omit<CollectOptions, 'proposed'> {
  forge: Forge;
  dryRun: boolean;
  /** Per-result plots up to this many new results (overviews always); 0 with `plots: false`. */
  plots: { enabled: boolean; perResultLimit: number; threads?: number };
}

export interface CollectedSummary {
  result: number;
  experiment: string;
  host: number;
  verdict: string;
  quality: number;
  credit: number;
  failed: string[];
}

export interface CollectReport {
  run: string;
  judgedBy: string;
  collected: CollectedSummary[];
  skipped: number;
  pullRequest: { ref: string; url: string; action: OpenOutcome['action'] } | null;
  dryRun: boolean;
  problems: Problem[];
}

/**
 * The collect use case: judges what the spool holds that is not collected or proposed yet, adds
 * the plots, and opens (or updates) the results pull request, unless it is a dry run.
 */
export async function collectResults(options: CollectResultsOptions): Promise<CollectReport> {
  const outcome = await collect({ ...options, proposed: await alreadyProposed(options.forge) });
  if (options.plots.enabled && outcome.collected.length > 0) {
    const renderer = new PlotRenderer(
      outcome.collected.length <= options.plots.perResultLimit ? options.plots.threads : 1,
    );
    try {
      await addPlots(outcome, renderer, options.plots.perResultLimit);
    } finally {
      await renderer.close();
    }
  }
  const pr =
    !options.dryRun && outcome.collected.length > 0
      ? await options.forge.openOrUpdate({
          branch: RESULTS_BRANCH,
          base: 'main',
          title: `Results: ${outcome.collected.length} new (run ${outcome.run})`,
          body: resultsBody(outcome, options.judge.name),
          labels: ['axiom:results', `axiom:judged-by-${options.judge.name}`],
          commitMessage: `Results of collection run ${outcome.run}: ${outcome.collected.length} results`,
          files: outcome.files,
        })
      : undefined;
  return {
    run: outcome.run,
    judgedBy: options.judge.name,
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
    dryRun: options.dryRun,
    problems: outcome.problems,
  };
}
