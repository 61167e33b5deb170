import { describeCheck, evaluateAcceptance } from '../envelope/acceptance.js';
import type { SanitisedEnvelope } from '../envelope/envelope.js';
import type { Manifest } from '../manifest/types.js';
import type { Verdict } from '../record/review.js';
import type { CheckOutcome } from './checks.js';

/** The model call behind a judgement, for the review. */
export interface JudgeProvenance {
  model: string;
  /** The template hash: system, schema, model, effort, max_tokens (the same for one rubric version). */
  promptHash: string;
  /** The data hash: what this call was shown. */
  dataHash?: string;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUsd: number;
  batched: boolean;
}

/** A judge's answer for one result. Only code turns it into credit. */
export interface Judgement {
  verdict: Verdict;
  /** 0 to 1. */
  quality: number;
  evidence: string[];
  flags: string[];
  judgedBy: string;
  /** A model's rubric scores (0 to 1), kept in the review. */
  rubric?: Record<string, number>;
  /** The model call behind it, for judges that make them. */
  provenance?: JudgeProvenance;
}

/** What a judge is shown: the numbers-only result, the manifest that gives it meaning, the params it was given. */
export interface JudgeInput {
  resultId: number;
  envelope: SanitisedEnvelope;
  manifest: Manifest;
  checks: CheckOutcome[];
  /** What the workunit was given (trusted: the project wrote it). */
  params?: Record<string, unknown>;
}

/**
 * The port every judge implements: the deterministic rules here, Claude elsewhere. `undefined` for
 * a result the judge could not answer now: it stays in the spool for the next run.
 */
export interface ResultJudge {
  readonly name: string;
  judge(inputs: readonly JudgeInput[]): Promise<(Judgement | undefined)[]>;
}

/**
 * Judges by the rules alone (no model): a result that passed every check is valid with quality 1,
 * the same scale as a model's plausibility. Whether it met the acceptance checks is evidence, not
 * pay: an honest result that refutes the hypothesis earns what one that supports it earns.
 */
export class RulesJudge implements ResultJudge {
  readonly name = 'rules';

  async judge(inputs: readonly JudgeInput[]): Promise<Judgement[]> {
    return inputs.map((input) => {
      const acceptance = evaluateAcceptance(input.envelope, input.manifest);
      return {
        verdict: 'valid',
        quality: 1,
        evidence: acceptance.map(
          (a) => `${describeCheck(a.check)}: ${a.value ?? 'missing'} (${a.passed ? 'met' : 'not met'})`,
        ),
        flags: [],
        judgedBy: this.name,
      };
    });
  }
}

/** The verdict of a result that failed an eligibility check: no judge is asked. */
export function ineligible(checks: readonly CheckOutcome[]): Judgement {
  return {
    verdict: 'invalid',
    quality: 0,
    evidence: checks.filter((c) => !c.passed).map((c) => `${c.rule}: ${c.finding ?? 'failed'}`),
    flags: [],
    judgedBy: 'rules',
  };
}

/**
 * Proposed credit is the manifest's cap times quality, rounded, and zero unless the result is
 * eligible and judged valid. Nothing a judge writes can raise it above the cap.
 */
export function proposeCredit(cap: number, judgement: Judgement, eligible: boolean): number {
  if (!eligible || judgement.verdict !== 'valid') return 0;
  const quality = Number.isFinite(judgement.quality) ? Math.min(1, Math.max(0, judgement.quality)) : 0;
  return Math.min(cap, Math.max(0, Math.round(cap * quality)));
}

/**
 * Holds each host to `limit` credit per UTC day (counting what the record already proposed that
 * day), in result order; a cut is noted as a flag.
 */
export function capPerHostDay(
  items: { host: number; day: string; credit: number; flags: string[] }[],
  alreadyProposed: ReadonlyMap<string, number>,
  limit: number,
): void {
  const used = new Map(alreadyProposed);
  for (const item of items) {
    const key = `${item.host} ${item.day}`;
    const before = used.get(key) ?? 0;
    const allowed = Math.max(0, Math.min(item.credit, limit - before));
    if (allowed < item.credit) {
      item.flags.push(
        `host ${item.host} reached its ${limit} credit for ${item.day}; ${item.credit} cut to ${allowed}`,
      );
      item.credit = allowed;
    }
    used.set(key, before + allowed);
  }
}
