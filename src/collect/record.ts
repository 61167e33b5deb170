import { stringify } from 'yaml';
import {
  describeCheck,
  hypothesisChecksOf,
  OPERATORS,
  type Outcome,
  preconditionsOf,
} from '../envelope/acceptance.js';
import type { SanitisedEnvelope } from '../envelope/envelope.js';
import type { SpoolClient } from '../envelope/spool.js';
import type { ProposalFile } from '../forge/forge.js';
import type { AcceptanceCheck, Manifest } from '../manifest/types.js';
import { escapeMarkdown } from '../markdown.js';
import { plotsSection } from '../plots/plots.js';
import type { CreditEntry, CreditFile } from '../record/credit-file.js';
import { creditFilePath, dataFile, resultAnchor, reviewFile } from '../record/layout.js';
import type { ReplicationReview, ResultIdentity, Review } from '../record/review.js';
import type { CheckOutcome } from './checks.js';
import type { Judgement, JudgeProvenance } from './judge.js';

/** Everything known about one collected result. */
export interface Collected {
  resultId: number;
  workunit: string;
  experiment: string;
  host: number;
  user: number;
  team: number;
  receivedAt: string;
  envelope: SanitisedEnvelope;
  manifest?: Manifest;
  checks: CheckOutcome[];
  eligible: boolean;
  judgement: Judgement;
  /** What the result says of the hypothesis (acceptance checks), apart from its pay. */
  outcome: Outcome;
  /** What decided it: the check not met, or the work a precondition still needed. */
  outcomeReason?: string;
  credit: number;
  /** A partial result's share of its planned work; its credit is scaled by it. */
  workShare?: number;
  /** The model call behind the judgement, when a model judged. */
  provenance?: JudgeProvenance;
  /** BOINC's measured elapsed time, else the client's report. */
  runtimeSeconds?: number;
  /** What the workunit carried: the manifest commit and the script's hash. */
  manifestCommit?: string;
  scriptSha256?: string;
  /** The computation its workunit asked for (replicas.ts replicaKey). */
  replicaKey?: string;
  /** How its computation was decided (collect/quorum.ts). */
  replication?: ReplicationReview;
  /** The credit cap of the manifest it was deployed from. */
  creditCap?: number;
  /** Cores its workunit gave the script. */
  cpus?: number;
  /** How the volunteer's client isolated the run. */
  isolation: 'sandbox' | 'limits-only' | 'unknown';
  /** What the volunteer's client reported, when it said anything. */
  client?: SpoolClient;
}

/** How much of a failed task's output a review shows. */
const STDERR_LINES = 15;

/** What each isolation means, for a reviewer. */
export const ISOLATION_WORDS: Record<Collected['isolation'], string> = {
  sandbox: 'sandbox (bubblewrap: no network, only its working directory writable, no other process visible)',
  'limits-only':
    'limits only (no sandbox on that host: resource limits, its own process group, nothing left running)',
  unknown: 'unknown (the client did not say)',
};

function number(value: number | undefined): string {
  return value === undefined ? '–' : String(Number(value.toPrecision(6)));
}

function identityOf(item: Collected): ResultIdentity {
  return {
    result: item.resultId,
    workunit: item.workunit,
    experiment: item.experiment,
    host: item.host,
    user: item.user,
    team: item.team,
  };
}

export function reviewOf(item: Collected, run: string, batch?: string): Review {
  return {
    ...identityOf(item),
    run,
    ...(batch ? { batch } : {}),
    received_at: item.receivedAt,
    ...(item.runtimeSeconds !== undefined ? { runtime_seconds: Number(item.runtimeSeconds.toFixed(3)) } : {}),
    ...(item.cpus !== undefined ? { cpus: item.cpus } : {}),
    ...(item.manifestCommit ? { manifest_commit: item.manifestCommit } : {}),
    ...(item.scriptSha256 ? { script_sha256: item.scriptSha256 } : {}),
    ...(item.replicaKey ? { replica_key: item.replicaKey } : {}),
    ...(item.replication ? { replication: item.replication } : {}),
    ...(item.creditCap !== undefined ? { credit_cap: item.creditCap } : {}),
    ...(item.client?.environment ? { environment: item.client.environment } : {}),
    verdict: item.judgement.verdict,
    outcome: item.outcome,
    ...(item.outcomeReason ? { outcome_reason: item.outcomeReason.slice(0, 500) } : {}),
    quality: item.judgement.quality,
    proposed_credit: item.credit,
    ...(item.workShare !== undefined ? { work_share: item.workShare } : {}),
    judged_by: item.judgement.judgedBy,
    isolation: item.isolation,
    checks: item.checks.map((c) => ({
      rule: c.rule,
      passed: c.passed,
      ...(c.finding ? { finding: c.finding.slice(0, 1000) } : {}),
    })),
    ...(item.judgement.rubric ? { rubric: item.judgement.rubric } : {}),
    evidence: item.judgement.evidence.slice(0, 20).map((e) => e.slice(0, 1000)),
    flags: item.judgement.flags.slice(0, 20).map((f) => f.slice(0, 200)),
    ...(item.provenance
      ? {
          provenance: {
            model: item.provenance.model,
            prompt_hash: item.provenance.promptHash,
            ...(item.provenance.dataHash ? { data_hash: item.provenance.dataHash } : {}),
            input_tokens: item.provenance.inputTokens,
            output_tokens: item.provenance.outputTokens,
            cache_read_tokens: item.provenance.cacheReadTokens,
            cache_write_tokens: item.provenance.cacheWriteTokens,
            cost_usd: item.provenance.costUsd,
            batched: item.provenance.batched,
          },
        }
      : {}),
  };
}

/** A result a reviewer should look at before the rest: not valid, flagged, or cut. */
export function isFlagged(item: Collected): boolean {
  return item.judgement.verdict !== 'valid' || item.judgement.flags.length > 0;
}

/** For a task that failed: what the volunteer's client said, and the last lines the script printed. */
function failureLines(item: Collected): string[] {
  const client = item.client;
  if (!client || client.status === 'ok') return [];
  const tail = (client.stderr_tail ?? '').trimEnd().split('\n').slice(-STDERR_LINES);
  return [
    '',
    "#### Why the task failed, as the volunteer's client reported it",
    '',
    `Status \`${escapeMarkdown(client.status)}\`${client.exit_code !== null ? `, exit ${client.exit_code}` : ''}: ${escapeMarkdown(client.message ?? '')}`,
    ...(tail.some((l) => l.trim())
      ? [
          '',
          `The script's last ${tail.length} lines of output:`,
          '',
          ...tail.map((l) => `> ${escapeMarkdown(l)}`),
        ]
      : []),
  ];
}

/** One line of results/<experiment>/<batch>.jsonl. */
export function dataLine(item: Collected, run: string, batch: string): string {
  const { dropped: _dropped, truncated: _truncated, ...envelope } = item.envelope;
  return `${JSON.stringify({ result: item.resultId, review: reviewOf(item, run, batch), envelope })}\n`;
}

const cell = escapeMarkdown;

/** The row of a result in its batch's table, holding its stable anchor. */
export function tableRow(item: Collected): string {
  const failed = item.checks.filter((c) => !c.passed).map((c) => c.rule);
  const note = failed.length
    ? `failed ${failed.join(', ')}`
    : item.judgement.flags.length
      ? `${item.judgement.flags.length} flag${item.judgement.flags.length === 1 ? '' : 's'}`
      : '';
  return `| <a id="${resultAnchor(item.resultId)}"></a>${item.resultId} | ${item.host} | ${item.envelope.seed ?? '–'} | ${item.outcome} | ${item.judgement.verdict} | ${number(item.judgement.quality)} | ${item.credit} | ${number(item.runtimeSeconds ?? item.envelope.elapsed_seconds)} | ${item.isolation} | ${cell(note)} |\n`;
}

/** What a reviewer reads of a flagged result: why it is flagged, and what it reported. */
export function flaggedSection(item: Collected): string {
  const failed = item.checks.filter((c) => !c.passed);
  const metrics = Object.entries(item.envelope.metrics)
    .slice(0, 12)
    .map(([k, v]) => `${k} = ${number(v)}`)
    .join(', ');
  return [
    `### Result ${item.resultId}: ${item.judgement.verdict}, credit ${item.credit}`,
    '',
    `Outcome: ${item.outcome}${item.outcomeReason ? ` (${escapeMarkdown(item.outcomeReason)})` : ''}.`,
    '',
    `Workunit \`${item.workunit}\` · host ${item.host} · user ${item.user} · seed ${item.envelope.seed ?? '–'} · isolation: ${ISOLATION_WORDS[item.isolation].split(' (')[0]}`,
    '',
    ...failed.map((c) => `- **${c.rule}**: ${escapeMarkdown(c.finding ?? 'failed')}`),
    ...item.judgement.flags.slice(0, 10).map((f) => `- flag: ${escapeMarkdown(f)}`),
    ...(item.judgement.verdict !== 'invalid' || failed.length === 0
      ? item.judgement.evidence.slice(0, 5).map((e) => `- evidence: ${escapeMarkdown(e)}`)
      : []),
    ...(metrics ? [`- metrics: ${escapeMarkdown(metrics)}`] : []),
    ...(item.envelope.summary ? [`- summary reported: ${escapeMarkdown(item.envelope.summary)}`] : []),
    ...failureLines(item),
    '',
    '',
  ].join('\n');
}

/** How many of the results meet one check of their manifest. */
export function metBy(items: readonly Collected[], check: AcceptanceCheck): number {
  return items.filter((i) => {
    const value = i.envelope.metrics[check.metric];
    return value !== undefined && OPERATORS[check.op](value, check.value);
  }).length;
}

/** The review of one experiment's results in a batch: what a reviewer reads in the file view. */
export function batchReviewMarkdown(options: {
  experiment: string;
  manifest?: Manifest;
  items: readonly Collected[];
  run: string;
  batch: string;
  judgedBy: string;
  plots: string;
  /** Said when plots were left out, and why. */
  plotsNote?: string;
}): string {
  const { experiment, manifest: m, items, run, batch } = options;
  const count = (v: string) => items.filter((i) => i.judgement.verdict === v).length;
  const outcomes = (o: Outcome) => items.filter((i) => i.outcome === o).length;
  const hosts = new Set(items.map((i) => i.host)).size;
  const credit = items.reduce((s, i) => s + i.credit, 0);
  const unsandboxed = items.filter((i) => i.isolation !== 'sandbox').length;
  const flagged = items.filter(isFlagged);
  const mode = options.judgedBy === 'rules' ? 'the deterministic rules (no model)' : options.judgedBy;
  const row = (kind: string) => (check: AcceptanceCheck) => {
    const values = items
      .map((i) => i.envelope.metrics[check.metric])
      .filter((v): v is number => v !== undefined)
      .sort((a, b) => a - b);
    const met = metBy(items, check);
    const median = values.length ? values[Math.floor((values.length - 1) / 2)] : undefined;
    return `| ${kind} \`${describeCheck(check)}\` | ${met} of ${items.length} | ${number(median)} |`;
  };
  const acceptance = m
    ? [...preconditionsOf(m).map(row('work:')), ...hypothesisChecksOf(m).map(row('hypothesis:'))]
    : [];
  const reasons = [
    ...new Set(items.filter((i) => i.outcome !== 'supported' && i.outcomeReason).map((i) => i.outcomeReason)),
  ];
  return [
    `# ${escapeMarkdown(m?.title ?? experiment)}: batch ${batch}`,
    '',
    `**Outcome: ${outcomes('supported')} supported, ${outcomes('not supported')} not supported, ${outcomes('inconclusive')} inconclusive** (by the acceptance checks, over ${hosts} host${hosts === 1 ? '' : 's'}).`,
    '',
    `${items.length} result${items.length === 1 ? '' : 's'} of \`${experiment}\` from collection run ${run}, judged by ${escapeMarkdown(mode)}: **${count('valid')} valid, ${count('suspicious')} suspicious, ${count('invalid')} invalid**; proposed credit ${credit}${m ? ` (at most ${m.credit_cap} per result)` : ''}. ${unsandboxed} not sandboxed. The data is in \`${dataFile(experiment, batch).split('/').pop()}\`, one line per result; the credit in \`${creditFilePath(batch)}\`.`,
    '',
    ...(reasons.length
      ? [
          `What decided the outcomes that are not "supported": ${reasons
            .slice(0, 5)
            .map((r) => escapeMarkdown(r as string))
            .join('; ')}.`,
          '',
        ]
      : []),
    ...(acceptance.length
      ? [
          'A check that counts work is a precondition: unmet, the result is inconclusive (too little work), never "not supported".',
          '',
          '| check | met by | median |',
          '| --- | ---: | ---: |',
          ...acceptance,
          '',
        ]
      : []),
    plotsSection(options.plots, options.plotsNote),
    '',
    `## Flagged results (${flagged.length})`,
    '',
    flagged.length
      ? 'Results that are not valid, or carry a flag, first: a failed check means zero credit, whatever the judge says.\n'
      : 'None: every result passed every check and carries no flag.\n',
    ...flagged.map(flaggedSection),
    `## All results (${items.length})`,
    '',
    `Each result's address is \`${reviewFile(experiment, batch)}#result-<id>\`.`,
    '',
    '| result | host | seed | outcome | verdict | quality | credit | ran (s) | isolation | note |',
    '| ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | --- | --- |',
    items.map(tableRow).join('').trimEnd(),
    '',
  ].join('\n');
}

export function creditEntry(item: Collected): CreditEntry {
  return {
    ...identityOf(item),
    verdict: item.judgement.verdict,
    quality: Number(item.judgement.quality.toFixed(4)),
    credit: item.credit,
  };
}

/** results/credit/<batch>.yaml: the file a reviewer edits before merging. */
export function creditFile(
  items: readonly Collected[],
  run: string,
  batch: string,
  judgedBy: string,
): ProposalFile {
  const file: CreditFile = {
    run,
    ...(batch !== run ? { batch } : {}),
    judged_by: judgedBy,
    entries: items.map(creditEntry),
  };
  const header = [
    `# Credit proposed by collection run ${run}${batch !== run ? ` (batch ${batch})` : ''}, judged by ${judgedBy}.`,
    '# Edit `credit` (0 to the experiment credit_cap) to change what is granted; merging this',
    '# pull request grants each entry once in the BOINC database (axiom credit apply).',
  ].join('\n');
  return { path: creditFilePath(batch), content: `${header}\n${stringify(file, { lineWidth: 0 })}` };
}
