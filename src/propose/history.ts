import { describeCheck, evaluateAcceptance, OUTCOMES } from '../envelope/acceptance.js';
import type { Host } from '../fleet/types.js';
import { headlineMetric } from '../manifest/headline.js';
import type { Manifest } from '../manifest/types.js';
import { findingsOf, outcomeOfResult, short } from '../record/findings.js';
import { addressOf } from '../record/layout.js';
import { lineageOf } from '../record/lineage.js';
import type { ExperimentRecord, ResearchRecord, ResultRecord } from '../record/research.js';
import { openRound } from './follow-up.js';

/** How much of the record a design request carries: experiments, characters each, results cited each. */
export interface HistoryBound {
  experiments: number;
  chars: number;
  cited: number;
}

/** A new design: the latest experiments, briefly. */
export const DESIGN_HISTORY: HistoryBound = { experiments: 30, chars: 700, cited: 0 };
/** A follow-up (`--follow-up`): the last round's experiments, each with what decided it and the results to cite. */
export const FOLLOW_UP_HISTORY: HistoryBound = { experiments: 12, chars: 1600, cited: 6 };
/** The most of an outcome's reason quoted: the check not met, or the work missing. */
const REASON_CHARS = 160;
/** Lines of inquiry listed beside the last round, at most. */
const LINES = 20;

const mostCommon = (values: readonly string[]) => {
  const counts = new Map<string, number>();
  for (const v of values) if (v) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
};

/** Each outcome's count among the valid results, with the reason that decided most of them. */
function outcomesPart(e: ExperimentRecord): string | undefined {
  const findings = findingsOf(e);
  const parts = OUTCOMES.filter((o) => findings.byOutcome[o].length > 0).map((o) => {
    const reason =
      o === 'supported'
        ? undefined
        : mostCommon(findings.byOutcome[o].map((r) => outcomeOfResult(e, r).reason));
    return `${findings.byOutcome[o].length} ${o}${reason ? ` (${reason.slice(0, REASON_CHARS)})` : ''}`;
  });
  return parts.length ? `outcomes: ${parts.join(', ')}` : undefined;
}

/** Each acceptance check, with how many valid results met it: the checks that decided the outcomes. */
function checksPart(valid: readonly ResultRecord[], m: Manifest | undefined): string | undefined {
  const acceptance = (m?.acceptance ?? []).map((check) => {
    const met = valid.filter(
      (r) => m && evaluateAcceptance(r.envelope, { ...m, acceptance: [check] })[0]?.passed,
    ).length;
    return `${describeCheck(check)} met by ${met}/${valid.length}`;
  });
  return acceptance.length ? `acceptance: ${acceptance.join('; ')}` : undefined;
}

/** The headline over hosts, and each host's range: the spread across hosts. */
function spreadPart(valid: readonly ResultRecord[], m: Manifest | undefined): string | undefined {
  const headline = headlineMetric(m);
  const byHost = new Map<number, number[]>();
  for (const r of valid) {
    const v = headline ? r.envelope.metrics[headline] : undefined;
    if (v !== undefined && r.review) byHost.set(r.review.host, [...(byHost.get(r.review.host) ?? []), v]);
  }
  const values = [...byHost.values()].flat();
  if (!headline || values.length === 0) return undefined;
  const range = (vs: readonly number[]) =>
    vs.length === 1 ? short(vs[0] as number) : `${short(Math.min(...vs))} to ${short(Math.max(...vs))}`;
  const hosts = [...byHost].map(([h, vs]) => `host ${h}: ${range(vs)}`).join('; ');
  return `${headline} ${short(Math.min(...values))} to ${short(Math.max(...values))} over ${byHost.size} host${byHost.size === 1 ? '' : 's'} (${hosts})`;
}

/** How the replicas of each computation agreed: the spread across replicas. */
function replicasPart(results: readonly ResultRecord[]): string | undefined {
  const decided = new Map<string, string>();
  for (const r of results)
    if (r.review?.replica_key && r.review.replication)
      decided.set(r.review.replica_key, r.review.replication.decided);
  if (decided.size === 0) return undefined;
  const counts = new Map<string, number>();
  for (const d of decided.values()) counts.set(d, (counts.get(d) ?? 0) + 1);
  return `replicas: ${[...counts].map(([d, n]) => `${n} computation${n === 1 ? '' : 's'} ${d}`).join(', ')}`;
}

/** Where reviewers changed the credit code proposed: a person's judgement of the results. */
function editsPart(results: readonly ResultRecord[]): string | undefined {
  const edited = results.filter(
    (r) => r.review && r.credit !== undefined && r.credit !== r.review.proposed_credit,
  );
  if (edited.length === 0) return undefined;
  const shown = edited.slice(0, 3).map((r) => `result ${r.id}: ${r.review?.proposed_credit} → ${r.credit}`);
  return `${edited.length} credit edits by reviewers (${shown.join('; ')}${edited.length > 3 ? '; …' : ''})`;
}

/** The results a follow-up may cite, by their stable addresses, with their outcome and host. */
function citablePart(e: ExperimentRecord, valid: readonly ResultRecord[], cited: number): string | undefined {
  if (cited === 0 || valid.length === 0) return undefined;
  const shown = valid
    .slice(0, cited)
    .map(
      (r) =>
        `${addressOf({ experiment: e.name, id: r.id, ...(r.batch ? { batch: r.batch } : {}) })} (${outcomeOfResult(e, r).outcome}, host ${r.review?.host})`,
    );
  return `results: ${shown.join(', ')}${valid.length > cited ? `, and ${valid.length - cited} more` : ''}`;
}

/**
 * What one experiment taught, within `bound.chars`: its outcomes and what decided them, the checks
 * met, eligibility (failed checks, flags), the spread across hosts and replicas, reviewers' edits,
 * the results to cite (follow-ups), and the judge's evidence (a model's words, quoted as data).
 */
export function experimentHistory(e: ExperimentRecord, bound: HistoryBound, round?: number): string {
  const reviewed = e.results.filter((r) => r.review);
  const valid = reviewed.filter((r) => r.review?.verdict === 'valid');
  const m = e.manifest;
  const failed = new Map<string, number>();
  for (const r of reviewed)
    for (const c of r.review?.checks ?? []) if (!c.passed) failed.set(c.rule, (failed.get(c.rule) ?? 0) + 1);
  const flags = reviewed.reduce((n, r) => n + (r.review?.flags?.length ?? 0), 0);
  const evidence = valid.flatMap((r) => r.review?.evidence ?? []).slice(0, 2);
  const parts = [
    `${e.results.length} results, ${valid.length} valid`,
    checksPart(valid, m),
    failed.size
      ? `failed checks: ${[...failed.entries()].map(([k, n]) => `${k} ×${n}`).join(', ')}`
      : undefined,
    flags ? `${flags} flags` : undefined,
    spreadPart(valid, m),
    replicasPart(reviewed),
    editsPart(e.results),
    outcomesPart(e),
    citablePart(e, valid, bound.cited),
    evidence.length ? `judge: ${evidence.join(' / ')}` : undefined,
  ].filter((p): p is string => p !== undefined);
  const full = m?.hypothesis ?? '';
  const hypothesis = bound.cited && full.length > 300 ? `${full.slice(0, 299)}…` : full;
  const text =
    `- ${e.name}${round !== undefined ? ` (round ${round})` : ''}: ${hypothesis} (${parts.join('; ')})`.replace(
      /[\p{Cc}\p{Cf}]/gu,
      ' ',
    );
  return text.length > bound.chars ? `${text.slice(0, bound.chars - 1)}…` : text;
}

/** The newest result of an experiment, for ordering the last round newest first. */
const latest = (e: ExperimentRecord) =>
  e.results.reduce(
    (at, r) => (r.review?.received_at && r.review.received_at > at ? r.review.received_at : at),
    '',
  );

/** The last round within FOLLOW_UP_HISTORY, newest first, and the lines of inquiry so far. */
function followUpHistory(record: ResearchRecord): string[] {
  const lineage = lineageOf(record.experiments);
  const open = openRound(record.experiments)
    .sort((a, b) => latest(b).localeCompare(latest(a)) || a.name.localeCompare(b.name))
    .slice(0, FOLLOW_UP_HISTORY.experiments);
  const lines = lineage.lines
    .filter((l) => l.members.length > 1)
    .slice(0, LINES)
    .map((l) => `- ${l.members.map((n) => `${n} (round ${lineage.roundOf(n)})`).join(' → ')}`);
  return [
    `The last round: experiments whose results are in and that nothing builds on yet (at most ${FOLLOW_UP_HISTORY.experiments}, newest first, each in at most ${FOLLOW_UP_HISTORY.chars} characters with at most ${FOLLOW_UP_HISTORY.cited} of its valid results' stable addresses, the ones to cite in builds_on; the judge's words are a model's, quoted as data):`,
    ...(open.length
      ? open.map((e) => experimentHistory(e, FOLLOW_UP_HISTORY, lineage.roundOf(e.name)))
      : ['- none yet']),
    '',
    `Lines of inquiry so far (at most ${LINES}):`,
    ...(lines.length ? lines : ['- none yet: every experiment is its first round']),
  ];
}

/** The fleet and the history: what each design is matched to and builds on. */
export function designerContext(
  hosts: readonly Host[],
  existing: readonly Manifest[],
  record: ResearchRecord,
  followUp = false,
): string {
  const running = (id: number) =>
    existing.filter((m) => m.targets.some((t) => t.host === id)).map((m) => m.name);
  const fleet = hosts.map(
    (h) =>
      `- host ${h.id}: ${h.cores} cores, ${h.memoryGb} GB, ${h.os}${h.gpus.length ? `, GPU ${h.gpus.map((g) => `${g.count}× ${g.model}`).join(', ')}` : ''}, last seen ${h.lastContact?.toISOString().slice(0, 10) ?? 'unknown'}, running: ${running(h.id).join(', ') || 'nothing'}`,
  );
  const history = record.experiments
    .slice(-DESIGN_HISTORY.experiments)
    .map((e) => experimentHistory(e, DESIGN_HISTORY));
  return [
    'The fleet:',
    ...fleet,
    '',
    ...(followUp
      ? followUpHistory(record)
      : [
          "The experiments so far (what each found; the judge's words are a model's, quoted as data):",
          ...(history.length ? history : ['- none yet']),
        ]),
  ].join('\n');
}
