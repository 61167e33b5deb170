import type { AcceptanceCheck, ComparisonOp, Manifest } from '../manifest/types.js';
import type { ResultEnvelope } from './envelope.js';

/** A named finding about a result, with what was expected. */
export interface Finding {
  rule: string;
  message: string;
}

/** Every metric the manifest declares is reported, with its type and within its range. */
export function checkDeclaredMetrics(
  envelope: Pick<ResultEnvelope, 'metrics'>,
  manifest: Manifest,
): Finding[] {
  return Object.entries(manifest.outputs.metrics).flatMap(([key, spec]): Finding[] => {
    const value = envelope.metrics[key];
    if (value === undefined) return [{ rule: 'metric-missing', message: `metric "${key}" is missing` }];
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

type Operator = (value: number, expected: number | [number, number]) => boolean;

const single =
  (test: (value: number, expected: number) => boolean): Operator =>
  (value, expected) =>
    typeof expected === 'number' && test(value, expected);

/** Comparison operators of acceptance checks, by their manifest spelling. */
export const OPERATORS: Readonly<Record<ComparisonOp, Operator>> = {
  '<': single((v, e) => v < e),
  '<=': single((v, e) => v <= e),
  '>': single((v, e) => v > e),
  '>=': single((v, e) => v >= e),
  '==': single((v, e) => v === e),
  '!=': single((v, e) => v !== e),
  between: (v, e) => Array.isArray(e) && v >= e[0] && v <= e[1],
};

export interface AcceptanceOutcome {
  check: AcceptanceCheck;
  value: number | undefined;
  passed: boolean;
}

export function evaluateAcceptance(
  envelope: Pick<ResultEnvelope, 'metrics'>,
  manifest: Manifest,
): AcceptanceOutcome[] {
  return (manifest.acceptance ?? []).map((check) => {
    const value = envelope.metrics[check.metric];
    return { check, value, passed: value !== undefined && OPERATORS[check.op](value, check.value) };
  });
}

export function describeCheck(check: AcceptanceCheck): string {
  const expected = Array.isArray(check.value) ? `[${check.value.join(', ')}]` : String(check.value);
  return `${check.metric} ${check.op} ${expected}`;
}

/**
 * What a result says of its hypothesis, from the manifest's acceptance checks, apart from whether
 * it is paid: `supported` when every check is met, `not supported` when a check is not met,
 * `inconclusive` when the run did not finish its planned work (partial, failed, no result), a
 * checked metric is missing, or the manifest declares no checks.
 */
export type Outcome = 'supported' | 'not supported' | 'inconclusive';

export const OUTCOMES: readonly Outcome[] = ['supported', 'not supported', 'inconclusive'];

export function outcomeOf(
  envelope: Pick<ResultEnvelope, 'metrics'> & { status?: ResultEnvelope['status'] },
  manifest: Manifest | undefined,
  finished: boolean,
): Outcome {
  if (!manifest || !finished || envelope.status !== 'ok') return 'inconclusive';
  const checks = evaluateAcceptance(envelope, manifest);
  if (checks.length === 0 || checks.some((c) => c.value === undefined)) return 'inconclusive';
  return checks.every((c) => c.passed) ? 'supported' : 'not supported';
}
