import { judgeOutcome, OUTCOMES, type Outcome } from '../envelope/acceptance.js';
import { headlineMetric, spread } from '../manifest/headline.js';
import type { ExperimentRecord, ResultRecord } from './research.js';

/**
 * The result's outcome and what decided it: from its review, else judged from the manifest's
 * checks (a review written before reasons were recorded gets the reason its manifest gives now,
 * when that gives the same outcome).
 */
export function outcomeOfResult(
  experiment: Pick<ExperimentRecord, 'manifest'>,
  result: ResultRecord,
): { outcome: Outcome; reason: string } {
  const judged = judgeOutcome(
    result.envelope,
    experiment.manifest,
    (result.review?.checks ?? []).every((c) => c.passed),
  );
  const recorded = result.review?.outcome;
  if (!recorded) return judged;
  const reason = result.review?.outcome_reason ?? (recorded === judged.outcome ? judged.reason : '');
  return { outcome: recorded, reason };
}

/** What one experiment's valid results found: each outcome's results, and the headline over them. */
export interface Findings {
  byOutcome: Record<Outcome, ResultRecord[]>;
  /** The valid results, the ones findings are drawn from (an invalid or held result is no evidence). */
  valid: ResultRecord[];
  headline?: { metric: string; median: number; min: number; max: number; n: number; hosts: number };
}

export function findingsOf(experiment: ExperimentRecord): Findings {
  const valid = experiment.results.filter((r) => r.review?.verdict === 'valid');
  const byOutcome = Object.fromEntries(OUTCOMES.map((o) => [o, [] as ResultRecord[]])) as Record<
    Outcome,
    ResultRecord[]
  >;
  for (const r of valid) byOutcome[outcomeOfResult(experiment, r).outcome].push(r);
  const metric = headlineMetric(experiment.manifest);
  const reported = valid.filter((r) => metric !== undefined && r.envelope.metrics[metric] !== undefined);
  const s = spread(reported.map((r) => r.envelope.metrics[metric as string] as number));
  const hosts = new Set(reported.map((r) => r.review?.host)).size;
  return { byOutcome, valid, ...(s && metric ? { headline: { metric, ...s, hosts } } : {}) };
}

/** "2 supported, 1 not supported" over the outcomes that have results; "no valid results" without. */
export function outcomeCounts(findings: Findings): string {
  const parts = OUTCOMES.filter((o) => findings.byOutcome[o].length > 0).map(
    (o) => `${findings.byOutcome[o].length} ${o}`,
  );
  return parts.join(', ') || 'no valid results';
}

/** A number as pages and pull requests print it: four significant digits, no trailing zeros. */
export function short(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
}
