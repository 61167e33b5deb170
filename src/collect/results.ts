import { parse } from 'yaml';
import { ConfigurationError } from '../errors.js';
import type { Forge, OpenOutcome } from '../forge/forge.js';
import { EXPERIMENT_NAME_PATTERN } from '../manifest/name.js';
import { PlotRenderer } from '../plots/render.js';
import type { Problem } from '../problems.js';
import { CREDIT_DIR, runOfBatch } from '../record/layout.js';
import { type CollectOptions, type CollectOutcome, collect, type Proposed } from './collect.js';
import { type SetAside, setAsideEntries } from './intake.js';
import { type BatchProposal, batchProposals } from './proposal.js';

export { RUN_ID } from '../record/layout.js';

/** Every results pull request's branch starts so: one per batch, e.g. axiom/results-2026-11-25t120000z-2. */
export const RESULTS_BRANCH_PREFIX = 'axiom/results';
/** The branch of a batch's pull request (branch names are lowercase). */
export const resultsBranch = (batch: string) =>
  `${RESULTS_BRANCH_PREFIX}-${batch.toLowerCase().replace('.', '-')}`;
const LEGACY_RESULT_PATH = new RegExp(`^results/${EXPERIMENT_NAME_PATTERN}/([0-9]{1,12})/`);

export function runId(now: Date): string {
  return now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
    .replace(/^(\d{4})(\d\d)(\d\d)/, '$1-$2-$3');
}

/** The pull request description of one batch: what a reviewer decides from. */
export function resultsBody(
  proposal: BatchProposal,
  run: string,
  judgedBy: string,
  setAside: readonly SetAside[],
): string {
  const byExperiment = new Map<
    string,
    { n: number; valid: number; suspicious: number; invalid: number; credit: number; unsandboxed: number }
  >();
  for (const item of proposal.items) {
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
  const total = proposal.items.reduce((s, i) => s + i.credit, 0);
  const mode =
    judgedBy === 'rules'
      ? '**Judged by the deterministic rules alone** (no model was asked): a result that passes every check is valid, and its quality is how much of the acceptance it meets.'
      : `Judged by ${judgedBy} after the deterministic checks; the model grades, but the checks and code decide what can be paid.`;
  const calls = proposal.items.flatMap((c) => (c.provenance ? [c.provenance] : []));
  const cost = calls.length
    ? [
        '',
        `Model calls: ${calls.length} (${calls.filter((c) => c.batched).length} batched), ${calls.reduce((s, c) => s + c.inputTokens, 0)} input tokens (${calls.reduce((s, c) => s + c.cacheReadTokens, 0)} from cache), ${calls.reduce((s, c) => s + c.outputTokens, 0)} output tokens, $${calls.reduce((s, c) => s + c.costUsd, 0).toFixed(4)}.`,
      ]
    : [];
  const part =
    proposal.parts > 1
      ? ` (batch ${proposal.part} of ${proposal.parts}: the run is split so that GitHub shows each pull request whole)`
      : '';
  return [
    `## Results of collection run ${run}${part}`,
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
    '"Not sandboxed": results whose volunteer client ran the script with resource limits only (no sandbox on that host) or did not say.',
    '',
    `Proposed credit in total: **${total}**. Each experiment's \`results/<experiment>/${proposal.batch}.md\` reviews its results, flagged ones first; \`${proposal.batch}.jsonl\` beside it holds the data, one line per result. Credit is listed in \`${CREDIT_DIR}/${proposal.batch}.yaml\`: edit an amount there before merging if you disagree. Merging grants exactly what that file says, once per result.`,
    ...proposal.notes.flatMap((n) => ['', n]),
    ...(setAside.length
      ? [
          '',
          `### Set aside from the spool (${setAside.length})`,
          '',
          "These entries could not be read or judged; they are moved to the spool's `set-aside/` folder, each with its reason, and nobody is paid for them:",
          '',
          ...setAside
            .slice(0, 50)
            .map((e) => `- \`${e.file.replace(/`/g, '')}\`: ${e.reason.replace(/[\r\n`]/g, ' ')}`),
          ...(setAside.length > 50 ? [`- and ${setAside.length - 50} more`] : []),
        ]
      : []),
    '',
  ].join('\n');
}

function creditEntriesOf(text: string): { result: number; workunit: string; credit: number }[] {
  try {
    const data = parse(text) as { entries?: unknown };
    return Array.isArray(data?.entries)
      ? data.entries.filter(
          (e): e is { result: number; workunit: string; credit: number } =>
            typeof e === 'object' && e !== null && Number.isInteger((e as { result: unknown }).result),
        )
      : [];
  } catch {
    return [];
  }
}

/** What the open results pull requests already propose: their results and the workunits they pay. */
async function alreadyProposed(forge: Forge): Promise<Proposed & { runs: Set<string> }> {
  const results = new Set<number>();
  const paidWorkunits = new Map<string, number>();
  const runs = new Set<string>();
  for (const open of await forge.listOpen(RESULTS_BRANCH_PREFIX)) {
    const files = await forge.listFiles(open, 'results/');
    for (const file of files) {
      const legacy = LEGACY_RESULT_PATH.exec(file);
      if (legacy) results.add(Number(legacy[1]));
      if (!file.startsWith(`${CREDIT_DIR}/`) || !file.endsWith('.yaml')) continue;
      const text = await forge.readFile(open, file);
      if (text === undefined) continue;
      runs.add(runOfBatch(file.slice(CREDIT_DIR.length + 1, -'.yaml'.length)));
      for (const entry of creditEntriesOf(text)) {
        results.add(entry.result);
        if (typeof entry.workunit === 'string' && typeof entry.credit === 'number' && entry.credit > 0)
          paidWorkunits.set(entry.workunit, entry.result);
      }
    }
  }
  return { results, paidWorkunits, runs };
}

export interface CollectResultsOptions extends Omit<CollectOptions, 'proposed'> {
  forge: Forge;
  dryRun: boolean;
  /** Each batch's plots in its review; none with `enabled: false`. */
  plots: { enabled: boolean; threads?: number };
  now?: () => Date;
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

export interface BatchSummary {
  batch: string;
  branch: string;
  results: number;
  /** What the batch weighs in GitHub's diff view. */
  size: BatchProposal['size'];
  pullRequest: { ref: string; url: string; action: OpenOutcome['action'] } | null;
}

export interface CollectReport {
  run: string;
  judgedBy: string;
  collected: CollectedSummary[];
  skipped: number;
  batches: BatchSummary[];
  /** Spool entries set aside (moved to the spool's set-aside/ unless a dry run), with the reason. */
  setAside: SetAside[];
  dryRun: boolean;
  problems: Problem[];
}

/**
 * The collect use case: judges what the spool holds that is not collected or proposed yet, splits
 * it into batches GitHub can show whole, and opens a results pull request for each, unless it is a
 * dry run. Entries that could not be read or judged are moved aside once the pull requests are open.
 */
export async function collectResults(options: CollectResultsOptions): Promise<CollectReport> {
  const proposed = await alreadyProposed(options.forge);
  if (proposed.runs.has(options.run))
    throw new ConfigurationError(
      `collection run ${options.run} already has open results pull requests; run again with a new --run (the default is now)`,
    );
  const outcome: CollectOutcome = await collect({ ...options, proposed });
  const renderer =
    options.plots.enabled && outcome.collected.length > 0
      ? new PlotRenderer(options.plots.threads)
      : undefined;
  let proposals: BatchProposal[];
  try {
    proposals = await batchProposals(outcome, options.judge.name, renderer);
  } finally {
    await renderer?.close();
  }
  const batches: BatchSummary[] = [];
  for (const proposal of proposals) {
    const branch = resultsBranch(proposal.batch);
    const pr = options.dryRun
      ? undefined
      : await options.forge.openOrUpdate({
          branch,
          base: 'main',
          title: `Results: ${proposal.items.length} new (run ${outcome.run}${proposal.parts > 1 ? `, batch ${proposal.part} of ${proposal.parts}` : ''})`,
          body: resultsBody(
            proposal,
            outcome.run,
            options.judge.name,
            proposal.part === 1 ? outcome.setAside : [],
          ),
          labels: ['axiom:results', `axiom:judged-by-${options.judge.name}`],
          commitMessage: `Results of collection run ${outcome.run}, batch ${proposal.batch}: ${proposal.items.length} results`,
          files: proposal.files,
        });
    if (proposals.length > 1)
      options.progress?.(`collect: batch ${proposal.part} of ${proposals.length} proposed`);
    batches.push({
      batch: proposal.batch,
      branch,
      results: proposal.items.length,
      size: proposal.size,
      pullRequest: pr ? { ref: pr.pullRequest.ref, url: pr.pullRequest.url, action: pr.action } : null,
    });
  }
  if (!options.dryRun)
    setAsideEntries(options.spoolDir, outcome.setAside, (options.now ?? (() => new Date()))());
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
    batches,
    setAside: outcome.setAside,
    dryRun: options.dryRun,
    problems: outcome.problems,
  };
}
