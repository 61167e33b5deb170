import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { writeFileAtomically } from '../atomic-write.js';
import { describeCheck, hypothesisChecksOf, preconditionsOf } from '../envelope/acceptance.js';
import { describeJsonError } from '../envelope/json.js';
import { ConfigurationError } from '../errors.js';
import { type Forge, type OpenOutcome, REOPEN_LABEL } from '../forge/forge.js';
import { headlineMetric, spread } from '../manifest/headline.js';
import { EXPERIMENT_NAME_PATTERN } from '../manifest/name.js';
import type { AcceptanceCheck } from '../manifest/types.js';
import { escapeMarkdown } from '../markdown.js';
import { PlotRenderer } from '../plots/render.js';
import type { Problem } from '../problems.js';
import { readRegularFile } from '../read-file.js';
import {
  batchOfDataFile,
  batchPlotFile,
  CREDIT_DIR,
  dataFile,
  RUN_ID,
  resultAnchor,
  reviewFile,
  runOfBatch,
} from '../record/layout.js';
import { parseDataFile, type ResultRecord } from '../record/research.js';
import type { SchemaValidator } from '../schema/validate.js';
import { type CollectOptions, type CollectOutcome, collect, type Proposed } from './collect.js';
import { type SetAside, setAsideEntries } from './intake.js';
import { type BatchProposal, batchProposals, groupByExperiment } from './proposal.js';
import { type Collected, isFlagged, metBy } from './record.js';
import type { HeldComputation, RequestedReplica } from './settle.js';

export { RUN_ID };

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

/** A path on the pull request's branch, as a link that works in a GitHub pull request description. */
const onBranch = (branch: string, path: string) => `../blob/${branch}/${path}`;

const short = (v: number) => String(Number(v.toPrecision(4)));

/**
 * One experiment of a batch as a reviewer reads it first: the outcome, the headline figure with its
 * spread, the key plot, the flagged results with why, and where the review is.
 */
function experimentSection(proposal: BatchProposal, name: string, items: readonly Collected[]): string[] {
  const m = items[0]?.manifest;
  const branch = resultsBranch(proposal.batch);
  const review = reviewFile(name, proposal.batch);
  const count = (o: string) => items.filter((i) => i.outcome === o).length;
  const headline = headlineMetric(m);
  const values = headline
    ? items.flatMap((i) =>
        i.judgement.verdict !== 'invalid' && i.envelope.metrics[headline] !== undefined
          ? [i.envelope.metrics[headline] as number]
          : [],
      )
    : [];
  const s = spread(values);
  const unit = headline ? m?.outputs.metrics[headline]?.unit : undefined;
  const plot = batchPlotFile(name, proposal.batch, 0);
  const hasPlot = proposal.files.some((f) => f.path === plot);
  const flagged = items.filter(isFlagged);
  const hosts = new Set(items.map((i) => i.host)).size;
  const met = (check: AcceptanceCheck) =>
    `\`${describeCheck(check)}\` met by ${metBy(items, check)} of ${items.length}`;
  const checks = m ? hypothesisChecksOf(m).map(met) : [];
  const preconditions = m ? preconditionsOf(m).map(met) : [];
  const decided = [
    ...new Set(items.filter((i) => i.outcome !== 'supported' && i.outcomeReason).map((i) => i.outcomeReason)),
  ];
  const replicas = replicationLine(items);
  return [
    `### ${escapeMarkdown(m?.title ?? name)}`,
    '',
    `**${count('supported')} supported, ${count('not supported')} not supported, ${count('inconclusive')} inconclusive** of ${items.length} result${items.length === 1 ? '' : 's'} on ${hosts} host${hosts === 1 ? '' : 's'}.${
      s && headline
        ? ` Headline \`${headline}\`: ${s.n === 1 ? `${short(s.median)}${unit ? ` ${escapeMarkdown(unit)}` : ''}` : `median ${short(s.median)}${unit ? ` ${escapeMarkdown(unit)}` : ''}, from ${short(s.min)} to ${short(s.max)} over ${s.n} results`}.`
        : ''
    }`,
    '',
    ...(preconditions.length ? [`Work (preconditions): ${preconditions.join('; ')}.`, ''] : []),
    ...(checks.length ? [`Hypothesis checks: ${checks.join('; ')}.`, ''] : []),
    ...(decided.length
      ? [
          `Decided by: ${decided
            .slice(0, 3)
            .map((r) => escapeMarkdown(r as string))
            .join('; ')}.`,
          '',
        ]
      : []),
    ...(replicas ? [replicas, ''] : []),
    ...(hasPlot
      ? [`[![The batch's first plot](${onBranch(branch, plot)}?raw=true)](${onBranch(branch, plot)})`, '']
      : []),
    ...(flagged.length
      ? [
          `Flagged (${flagged.length}), look at these first:`,
          '',
          ...flagged.slice(0, 5).map((i) => {
            const why = [
              ...i.checks.filter((c) => !c.passed).map((c) => c.rule),
              ...i.judgement.flags.slice(0, 2).map((f) => escapeMarkdown(f.slice(0, 120))),
            ].join('; ');
            return `- [result ${i.resultId}](${onBranch(branch, `${review}#${resultAnchor(i.resultId)}`)}) on host ${i.host}: ${i.judgement.verdict}, credit ${i.credit}${why ? `: ${why}` : ''}`;
          }),
          ...(flagged.length > 5 ? [`- and ${flagged.length - 5} more in the review`] : []),
          '',
        ]
      : []),
    `The review: [\`${review}\`](${onBranch(branch, review)}); the data: \`${dataFile(name, proposal.batch)}\`.`,
    '',
  ];
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
    {
      n: number;
      valid: number;
      suspicious: number;
      invalid: number;
      credit: number;
      unsandboxed: number;
      outcomes: Record<string, number>;
      hosts: Set<number>;
    }
  >();
  for (const item of proposal.items) {
    const row = byExperiment.get(item.experiment) ?? {
      n: 0,
      valid: 0,
      suspicious: 0,
      invalid: 0,
      credit: 0,
      unsandboxed: 0,
      outcomes: {},
      hosts: new Set<number>(),
    };
    row.n += 1;
    row[item.judgement.verdict] += 1;
    row.outcomes[item.outcome] = (row.outcomes[item.outcome] ?? 0) + 1;
    row.hosts.add(item.host);
    row.credit += item.credit;
    if (item.isolation !== 'sandbox') row.unsandboxed += 1;
    byExperiment.set(item.experiment, row);
  }
  const total = proposal.items.reduce((s, i) => s + i.credit, 0);
  const mode =
    judgedBy === 'rules'
      ? '**Judged by the deterministic rules alone** (no model was asked): a result that passes every check is valid with quality 1 and is paid its cap; whether it met the acceptance checks is its outcome, not its pay.'
      : `Judged by ${judgedBy} after the deterministic checks; the model grades, but the checks and code decide what can be paid.`;
  const calls = proposal.items.flatMap((c) => (c.provenance ? [c.provenance] : []));
  const cost = calls.length
    ? [
        '',
        `Model calls: ${calls.length} (${calls.filter((c) => c.batched).length} batched), ${calls.reduce((s, c) => s + c.inputTokens, 0)} input tokens (${calls.reduce((s, c) => s + c.cacheReadTokens, 0)} from cache), ${calls.reduce((s, c) => s + c.outputTokens, 0)} output tokens, $${calls.reduce((s, c) => s + c.costUsd, 0).toFixed(4)}; template ${[...new Set(calls.map((c) => c.promptHash))].join(', ')}.`,
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
    'What the results say (by the acceptance checks), and what is paid (by the checks and the judge):',
    '',
    '| experiment | results | hosts | supported | not supported | inconclusive | valid | suspicious | invalid | proposed credit | not sandboxed |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...[...byExperiment.entries()].map(
      ([name, r]) =>
        `| ${name} (\`${reviewFile(name, proposal.batch)}\`) | ${r.n} | ${r.hosts.size} | ${r.outcomes.supported ?? 0} | ${r.outcomes['not supported'] ?? 0} | ${r.outcomes.inconclusive ?? 0} | ${r.valid} | ${r.suspicious} | ${r.invalid} | ${r.credit} | ${r.unsandboxed} |`,
    ),
    '',
    '"Not sandboxed": results whose volunteer client ran the script with resource limits only (no sandbox on that host) or did not say.',
    '',
    ...[...groupByExperiment(proposal.items)].flatMap(([name, items]) =>
      experimentSection(proposal, name, items),
    ),
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

/**
 * How the computations of a batch were decided, in a sentence: unanimous quorums, ones a
 * tie-breaker decided, and results held for a person, each group of agreeing results with its hosts.
 */
function replicationLine(items: readonly Collected[]): string | undefined {
  const replicated = items.filter(
    (i) => i.replication && i.replication.classes.flatMap((c) => c.results).length > 1,
  );
  if (replicated.length === 0) return undefined;
  const count = (standing: string) => replicated.filter((i) => i.replication?.standing === standing).length;
  const disputed = new Map<string, Collected>();
  for (const item of replicated)
    if (item.replication && item.replication.classes.length > 1 && item.replicaKey)
      disputed.set(item.replicaKey, item);
  const groups = [...disputed.values()]
    .slice(0, 5)
    .map(
      (i) =>
        `${(i.replication?.classes ?? []).map((c) => `results ${c.results.join(', ')} (hosts ${c.hosts.join(', ')})`).join(' against ')}: ${i.replication?.decided === 'person' ? 'held for a person' : 'decided by tie-breakers'}`,
    );
  return `Replicas: ${count('agreed')} of ${replicated.length} result${replicated.length === 1 ? '' : 's'} of replicated computations agree with their quorum${count('outvoted') ? `; ${count('outvoted')} outvoted by tie-breakers, unpaid` : ''}${count('held') ? `; ${count('held')} held for a person, unpaid until one decides` : ''}.${groups.length ? ` Disagreements: ${groups.join('; ')}.` : ''}`;
}

/**
 * The results in a batch's data file of an open results pull request, read as the record reads its
 * own; a line that cannot be read is left out (that pull request's own check reports it).
 */
function resultsIn(file: string, text: string, validator: SchemaValidator, into: ResultRecord[]): void {
  const [, experiment = '', name = ''] = file.split('/');
  const batch = batchOfDataFile(name);
  if (!batch) return;
  into.push(...parseDataFile(text, experiment, file, batch, validator, []));
}

/**
 * What the results pull requests already hold: the open ones' results and the workunits they pay,
 * and the results of ones a person closed without merging (their "no" stands: those results are not
 * collected again unless the closed pull request is labelled axiom:reopen).
 */
async function alreadyProposed(
  forge: Forge,
  validator: SchemaValidator,
): Promise<Proposed & { runs: Set<string> }> {
  const results = new Set<number>();
  const paidWorkunits = new Map<string, number>();
  const records: ResultRecord[] = [];
  const runs = new Set<string>();
  const open = await forge.listOpen(RESULTS_BRANCH_PREFIX);
  const declined = (await forge.listClosed(RESULTS_BRANCH_PREFIX)).filter(
    (p) => !p.labels.includes(REOPEN_LABEL),
  );
  for (const pull of [...open, ...declined]) {
    const isOpen = pull.state === 'open';
    const files = await forge.listFiles(pull, 'results/');
    for (const file of files) {
      const legacy = LEGACY_RESULT_PATH.exec(file);
      if (legacy) results.add(Number(legacy[1]));
      if (isOpen && file.endsWith('.jsonl') && !file.startsWith(`${CREDIT_DIR}/`)) {
        const data = await forge.readFile(pull, file);
        if (data !== undefined) resultsIn(file, data, validator, records);
        continue;
      }
      if (!file.startsWith(`${CREDIT_DIR}/`) || !file.endsWith('.yaml')) continue;
      const text = await forge.readFile(pull, file);
      if (text === undefined) continue;
      if (isOpen) runs.add(runOfBatch(file.slice(CREDIT_DIR.length + 1, -'.yaml'.length)));
      for (const entry of creditEntriesOf(text)) {
        results.add(entry.result);
        if (
          isOpen &&
          typeof entry.workunit === 'string' &&
          typeof entry.credit === 'number' &&
          entry.credit > 0
        )
          paidWorkunits.set(entry.workunit, entry.result);
      }
    }
  }
  return { results, paidWorkunits, records, runs };
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
  outcome: string;
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
  /** Computations whose results wait in the spool, unpublished, until they are decided. */
  held: HeldComputation[];
  /** Replicas asked for to decide computations. */
  requested: RequestedReplica[];
  dryRun: boolean;
  problems: Problem[];
}

/** A judged run waiting to be published: everything publishing needs, and nothing it must ask again. */
export interface JudgedRun {
  version: 1;
  run: string;
  judgedBy: string;
  collected: CollectOutcome['collected'];
  skipped: number;
  setAside: SetAside[];
  /** Absent in a run judged before computations were held. */
  held?: HeldComputation[];
  requested?: RequestedReplica[];
  problems: Problem[];
}

/** Where a judged run waits for publishing when no --state is given: beside the spool it came from. */
export const pendingStatePath = (spoolDir: string) => join(spoolDir, 'collect-pending.json');

/** A judged run is a few kilobytes per result; V8 holds no text much longer than this. */
const MAX_JUDGED_RUN_BYTES = 500 * 1024 * 1024;

/** The judged run waiting at `path`, if any; a file that is not one is an error, never guessed at. */
export function readJudgedRun(path: string): JudgedRun | undefined {
  if (!lstatSync(path, { throwIfNoEntry: false })) return undefined;
  const read = readRegularFile(path, MAX_JUDGED_RUN_BYTES);
  if ('refused' in read)
    throw new ConfigurationError(
      `${path} is ${read.refused}, not a judged collection run; move it away to judge afresh`,
    );
  let state: JudgedRun;
  try {
    state = JSON.parse(read.bytes.toString('utf8')) as JudgedRun;
  } catch (error) {
    throw new ConfigurationError(
      `${path} is not a judged collection run (not valid JSON: ${describeJsonError(error)}); move it away to judge afresh`,
    );
  }
  if (state?.version !== 1 || !RUN_ID.test(String(state.run)) || !Array.isArray(state.collected))
    throw new ConfigurationError(
      `${path} is not a judged collection run of this version; move it away to judge afresh`,
    );
  return state;
}

/**
 * Judges what the spool holds that is not collected or proposed yet. When `statePath` holds a run
 * judged before and never published (a publish that failed, a job run again), that run is returned
 * as it was: nobody is judged, and no model paid, twice.
 */
export async function judgeRun(
  options: Omit<CollectResultsOptions, 'dryRun' | 'plots'> & { statePath?: string; dryRun?: boolean },
): Promise<{ judged: JudgedRun; reused: boolean }> {
  const pending = options.statePath ? readJudgedRun(options.statePath) : undefined;
  if (pending) return { judged: pending, reused: true };
  const proposed = await alreadyProposed(options.forge, options.validator);
  if (proposed.runs.has(options.run))
    throw new ConfigurationError(
      `collection run ${options.run} already has open results pull requests; run again with a new --run (the default is now)`,
    );
  const outcome = await collect({ ...options, proposed });
  const judged: JudgedRun = {
    version: 1,
    run: outcome.run,
    judgedBy: options.judge.name,
    collected: outcome.collected,
    skipped: outcome.skipped,
    setAside: outcome.setAside,
    held: outcome.held,
    requested: outcome.requested,
    problems: outcome.problems,
  };
  if (options.statePath) writeFileAtomically(options.statePath, `${JSON.stringify(judged)}\n`);
  return { judged, reused: false };
}

/**
 * Publishes a judged run: splits it into batches GitHub can show whole and opens a results pull
 * request for each (a batch already open from an earlier attempt is brought up to date, never
 * duplicated), then moves unreadable spool entries aside. Nothing is opened in a dry run.
 */
export async function publishRun(
  judged: JudgedRun,
  options: Pick<CollectResultsOptions, 'forge' | 'spoolDir' | 'dryRun' | 'plots' | 'progress' | 'now'>,
): Promise<CollectReport> {
  const renderer =
    options.plots.enabled && judged.collected.length > 0
      ? new PlotRenderer(options.plots.threads)
      : undefined;
  let proposals: BatchProposal[];
  try {
    proposals = await batchProposals(judged, judged.judgedBy, renderer);
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
          title: `Results: ${proposal.items.length} new (run ${judged.run}${proposal.parts > 1 ? `, batch ${proposal.part} of ${proposal.parts}` : ''})`,
          body: resultsBody(
            proposal,
            judged.run,
            judged.judgedBy,
            proposal.part === 1 ? judged.setAside : [],
          ),
          labels: ['axiom:results', `axiom:judged-by-${judged.judgedBy}`],
          commitMessage: `Results of collection run ${judged.run}, batch ${proposal.batch}: ${proposal.items.length} results`,
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
    setAsideEntries(options.spoolDir, judged.setAside, (options.now ?? (() => new Date()))());
  return reportOf(judged, batches, options.dryRun);
}

export function reportOf(judged: JudgedRun, batches: BatchSummary[], dryRun: boolean): CollectReport {
  return {
    run: judged.run,
    judgedBy: judged.judgedBy,
    collected: judged.collected.map((c) => ({
      result: c.resultId,
      experiment: c.experiment,
      host: c.host,
      verdict: c.judgement.verdict,
      outcome: c.outcome,
      quality: c.judgement.quality,
      credit: c.credit,
      failed: c.checks.filter((k) => !k.passed).map((k) => k.rule),
    })),
    skipped: judged.skipped,
    batches,
    setAside: judged.setAside,
    held: judged.held ?? [],
    requested: judged.requested ?? [],
    dryRun,
    problems: judged.problems,
  };
}

/**
 * The collect use case in one go: judge, then publish. Under Actions the two are separate steps
 * (`--judge-only`, `--publish`), so that the token that opens pull requests is minted only after
 * judging, however long a message batch takes.
 */
export async function collectResults(options: CollectResultsOptions): Promise<CollectReport> {
  const { judged } = await judgeRun(options);
  return publishRun(judged, options);
}
