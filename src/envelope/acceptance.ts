import { describeCheck, hypothesisChecksOf, OPERATORS, preconditionsOf } from '../manifest/checks.js';
import type { AcceptanceCheck, Manifest } from '../manifest/types.js';

export { describeCheck, hypothesisChecksOf, OPERATORS, preconditionsOf };

import type { ResultEnvelope } from './envelope.js';

/** A named finding about a result, with what was expected. */
export interface Finding {
  rule: string;
  message: string;
}

/** Every metric the manifest declares is reported (by a run that finished), with its type and within its range. */
export function checkDeclaredMetrics(
  envelope: Pick<ResultEnvelope, 'metrics'> & { status?: ResultEnvelope['status'] },
  manifest: Manifest,
): Finding[] {
  return Object.entries(manifest.outputs.metrics).flatMap(([key, spec]): Finding[] => {
    const value = envelope.metrics[key];
    // A partial run reports what it computed: a metric it did not reach is absent, never a zero.
    if (value === undefined)
      return envelope.status === 'partial'
        ? []
        : [{ rule: 'metric-missing', message: `metric "${key}" is missing` }];
    if (spec.type === 'integer' && !Number.isInteger(value)) {
      return [{ rule: 'metric-type', message: `metric "${key}" must be an integer; found ${value}` }];
    }
    if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
      return [
        {
          rule: 'metric-range',
          message: `metric "${key}" = ${value} is outside [${spec.min ?? '-inf'}, ${spec.max ?? 'inf'}]`,
        },
      ];
    }
    return [];
  });
}

/** Every series the manifest declares is reported, within its length bounds. */
export function checkDeclaredSeries(envelope: Pick<ResultEnvelope, 'series'>, manifest: Manifest): Finding[] {
  return Object.entries(manifest.outputs.series ?? {}).flatMap(([key, spec]): Finding[] => {
    const values = envelope.series[key];
    if (values === undefined) return [{ rule: 'series-missing', message: `series "${key}" is missing` }];
    if (spec.min_length !== undefined && values.length < spec.min_length) {
      return [
        {
          rule: 'series-length',
          message: `series "${key}" has ${values.length} points, needs at least ${spec.min_length}`,
        },
      ];
    }
    if (spec.max_length !== undefined && values.length > spec.max_length) {
      return [
        {
          rule: 'series-length',
          message: `series "${key}" has ${values.length} points, at most ${spec.max_length} allowed`,
        },
      ];
    }
    return [];
  });
}

export interface AcceptanceOutcome {
  check: AcceptanceCheck;
  value: number | undefined;
  passed: boolean;
}

function evaluate(envelope: Pick<ResultEnvelope, 'metrics'>, checks: AcceptanceCheck[]): AcceptanceOutcome[] {
  return checks.map((check) => {
    const value = envelope.metrics[check.metric];
    return { check, value, passed: value !== undefined && OPERATORS[check.op](value, check.value) };
  });
}

/** The hypothesis checks of a result, met or not. */
export function evaluateAcceptance(
  envelope: Pick<ResultEnvelope, 'metrics'>,
  manifest: Manifest,
): AcceptanceOutcome[] {
  return evaluate(envelope, hypothesisChecksOf(manifest));
}

/** The preconditions of a result (the work it had to do), met or not. */
export function evaluatePreconditions(
  envelope: Pick<ResultEnvelope, 'metrics'>,
  manifest: Manifest,
): AcceptanceOutcome[] {
  return evaluate(envelope, preconditionsOf(manifest));
}

function formatValue(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
}

/** How much more work an unmet precondition needed, in its own units. */
export function shortfall(check: AcceptanceCheck, value: number): string {
  const wanted = typeof check.value === 'number' ? check.value : undefined;
  if (wanted !== undefined && (check.op === '>=' || check.op === '>')) {
    const more = check.op === '>=' ? wanted - value : Math.floor(wanted - value) + 1;
    return `${check.metric} = ${formatValue(value)}, needs ${describeCheck(check)}: ${formatValue(more)} more`;
  }
  return `${check.metric} = ${formatValue(value)}, needs ${describeCheck(check)}`;
}

/**
 * What a result says of its hypothesis, from the manifest's checks, apart from whether it is paid:
 * `supported` when every hypothesis check is met, `not supported` when one is not while every
 * precondition is met, `inconclusive` when the run did too little work (a precondition not met,
 * or a partial run), did not finish, a checked metric is missing, or the manifest declares no checks.
 */
export type Outcome = 'supported' | 'not supported' | 'inconclusive';

export const OUTCOMES: readonly Outcome[] = ['supported', 'not supported', 'inconclusive'];

/** An outcome with what decided it, in a phrase a reader can follow. */
export interface OutcomeJudgement {
  outcome: Outcome;
  reason: string;
  /** The checks that decided it: the unmet hypothesis checks, or the unmet preconditions. */
  decidedBy: AcceptanceOutcome[];
}

/** The phrase that opens an outcome for too little work; pages and tests look for it. */
export const TOO_LITTLE_WORK = 'too little work';

export function judgeOutcome(
  envelope: Pick<ResultEnvelope, 'metrics'> & { status?: ResultEnvelope['status']; progress?: number },
  manifest: Manifest | undefined,
  finished: boolean,
): OutcomeJudgement {
  const inconclusive = (reason: string, decidedBy: AcceptanceOutcome[] = []): OutcomeJudgement => ({
    outcome: 'inconclusive',
    reason,
    decidedBy,
  });
  if (!manifest) return inconclusive('no manifest to judge it by');
  if (!finished) return inconclusive('the run did not finish');
  if (envelope.status !== 'ok')
    return inconclusive(
      `${TOO_LITTLE_WORK}: the run stopped at its deadline${envelope.progress !== undefined ? ` after ${Math.round(envelope.progress * 100)}% of its planned work` : ''}`,
    );
  const unmet = evaluatePreconditions(envelope, manifest).filter((c) => !c.passed);
  if (unmet.length > 0)
    return inconclusive(
      `${TOO_LITTLE_WORK}: ${unmet.map((c) => (c.value === undefined ? `${c.check.metric} not reported, needs ${describeCheck(c.check)}` : shortfall(c.check, c.value))).join('; ')}`,
      unmet,
    );
  const checks = evaluateAcceptance(envelope, manifest);
  if (checks.length === 0) return inconclusive('the manifest declares no checks of its hypothesis');
  const missing = checks.filter((c) => c.value === undefined);
  if (missing.length > 0)
    return inconclusive(`not computed: ${missing.map((c) => c.check.metric).join(', ')}`, missing);
  const failed = checks.filter((c) => !c.passed);
  if (failed.length === 0) return { outcome: 'supported', reason: 'every check met', decidedBy: [] };
  return {
    outcome: 'not supported',
    reason: `not met: ${failed.map((c) => `${describeCheck(c.check)} (found ${formatValue(c.value as number)})`).join('; ')}`,
    decidedBy: failed,
  };
}

export function outcomeOf(
  envelope: Pick<ResultEnvelope, 'metrics'> & { status?: ResultEnvelope['status']; progress?: number },
  manifest: Manifest | undefined,
  finished: boolean,
): Outcome {
  return judgeOutcome(envelope, manifest, finished).outcome;
}
