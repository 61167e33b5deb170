import { stringify } from 'yaml';
import { describeCheck, evaluateAcceptance } from '../envelope/acceptance.js';
import type { SanitisedEnvelope } from '../envelope/envelope.js';
import type { SpoolClient } from '../envelope/spool.js';
import type { ProposalFile } from '../forge/forge.js';
import type { Manifest } from '../manifest/types.js';
import { escapeMarkdown } from '../markdown.js';
import { CREDIT_DIR, type CreditEntry, type CreditFile } from '../record/credit-file.js';
import {
  RESULT_FILE,
  RESULTS_DIR,
  REVIEW_FILE,
  REVIEW_MD,
  type ResultIdentity,
  type Review,
} from '../record/review.js';
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
  credit: number;
  /** The model call behind the judgement, when a model judged. */
  provenance?: JudgeProvenance;
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

export function reviewOf(item: Collected, run: string): Review {
  return {
    ...identityOf(item),
    run,
    received_at: item.receivedAt,
    verdict: item.judgement.verdict,
    quality: item.judgement.quality,
    proposed_credit: item.credit,
    judged_by: item.judgement.judgedBy,
    isolation: item.isolation,
    checks: item.checks.map((c) => ({
      rule: c.rule,
      passed: c.passed,
      ...(c.finding ? { finding: c.finding.slice(0, 1000) } : {}),
    })),
    evidence: item.judgement.evidence.slice(0, 20).map((e) => e.slice(0, 1000)),
    flags: item.judgement.flags.slice(0, 20).map((f) => f.slice(0, 200)),
    ...(item.provenance
      ? {
          provenance: {
            model: item.provenance.model,
            prompt_hash: item.provenance.promptHash,
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

/** review.md: what a reviewer reads in the pull request's file view. */
export function reviewMarkdown(item: Collected, run: string): string {
  const m = item.manifest;
  const cap = m?.credit_cap;
  const mode =
    item.judgement.judgedBy === 'rules' ? 'the deterministic rules (no model)' : item.judgement.judgedBy;
  const metrics = Object.entries(item.envelope.metrics).map(
    ([k, v]) => `| ${k} | ${number(v)} | ${escapeMarkdown(m?.outputs.metrics[k]?.unit ?? '')} |`,
  );
  const checks = item.checks.map(
    (c) => `| ${c.rule} | ${c.passed ? 'passed' : '**failed**'} | ${escapeMarkdown(c.finding ?? '')} |`,
  );
  const acceptance = m
    ? evaluateAcceptance(item.envelope, m).map(
        (a) => `| \`${describeCheck(a.check)}\` | ${number(a.value)} | ${a.passed ? 'met' : 'not met'} |`,
      )
    : [];
  return [
    `# Result ${item.resultId} of ${item.experiment}`,
    '',
    `**Verdict: ${item.judgement.verdict}** · quality ${number(item.judgement.quality)} · proposed credit ${item.credit}${cap !== undefined ? ` of at most ${cap}` : ''}`,
    '',
    '| | |',
    '| --- | --- |',
    `| Workunit | \`${item.workunit}\` |`,
    `| Host · user · team | ${item.host} · ${item.user} · ${item.team} |`,
    `| Seed | ${item.envelope.seed ?? '–'} |`,
    `| Ran | ${number(item.envelope.elapsed_seconds)} s of ${m?.run_duration ?? '–'} s |`,
    `| Received | ${item.receivedAt} |`,
    `| Isolation | ${ISOLATION_WORDS[item.isolation]} |`,
    `| Judged by | ${escapeMarkdown(mode)}, collection run ${run} |`,
    ...(item.provenance
      ? [
          `| Model call | prompt ${item.provenance.promptHash}, ${item.provenance.inputTokens} input tokens (${item.provenance.cacheReadTokens} from cache), ${item.provenance.outputTokens} output, $${item.provenance.costUsd}${item.provenance.batched ? ', batched' : ''} |`,
        ]
      : []),
    '',
    '## Metrics',
    '',
    '| metric | value | unit |',
    '| --- | ---: | --- |',
    ...metrics,
    '',
    '## Checks',
    '',
    'A failed check means zero credit, whatever the judge says.',
    '',
    '| rule | result | finding |',
    '| --- | --- | --- |',
    ...checks,
    ...(acceptance.length
      ? ['', '## Acceptance', '', '| check | value | result |', '| --- | ---: | --- |', ...acceptance]
      : []),
    ...(item.judgement.evidence.length
      ? ['', '## Evidence', '', ...item.judgement.evidence.map((e) => `- ${escapeMarkdown(e)}`)]
      : []),
    ...(item.judgement.flags.length
      ? ['', '## Flags', '', ...item.judgement.flags.map((f) => `- ${escapeMarkdown(f)}`)]
      : []),
    ...(item.envelope.summary
      ? [
          '',
          "## Summary reported by the volunteer's computer",
          '',
          `> ${escapeMarkdown(item.envelope.summary)}`,
        ]
      : []),
    ...failureLines(item),
    '',
  ].join('\n');
}

/** For a task that failed: what the volunteer's client said, and the last lines the script printed. */
function failureLines(item: Collected): string[] {
  const client = item.client;
  if (!client || client.status === 'ok') return [];
  const tail = (client.stderr_tail ?? '').trimEnd().split('\n').slice(-STDERR_LINES);
  return [
    '',
    "## Why the task failed, as the volunteer's client reported it",
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

/** The files of one result's folder. */
export function resultFiles(item: Collected, run: string): ProposalFile[] {
  const dir = `${RESULTS_DIR}/${item.experiment}/${item.resultId}`;
  const { dropped: _dropped, ...envelope } = item.envelope;
  return [
    { path: `${dir}/${RESULT_FILE}`, content: `${JSON.stringify(envelope, null, 2)}\n` },
    { path: `${dir}/${REVIEW_FILE}`, content: `${JSON.stringify(reviewOf(item, run), null, 2)}\n` },
    { path: `${dir}/${REVIEW_MD}`, content: reviewMarkdown(item, run) },
  ];
}

export function creditEntry(item: Collected): CreditEntry {
  return {
    ...identityOf(item),
    verdict: item.judgement.verdict,
    quality: Number(item.judgement.quality.toFixed(4)),
    credit: item.credit,
  };
}

/** results/credit/<run>.yaml: the file a reviewer edits before merging. */
export function creditFile(items: readonly Collected[], run: string, judgedBy: string): ProposalFile {
  const file: CreditFile = { run, judged_by: judgedBy, entries: items.map(creditEntry) };
  const header = [
    `# Credit proposed by collection run ${run}, judged by ${judgedBy}.`,
    '# Edit `credit` (0 to the experiment credit_cap) to change what is granted; merging this',
    '# pull request grants each entry once in the BOINC database (axiom credit apply).',
  ].join('\n');
  return { path: `${CREDIT_DIR}/${run}.yaml`, content: `${header}\n${stringify(file, { lineWidth: 0 })}` };
}
