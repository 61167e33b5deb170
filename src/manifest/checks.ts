import type { AcceptanceCheck, ComparisonOp, Manifest, Precondition } from './types.js';

// A manifest's checks, read the same way by the planner, `axiom check`, collect and the site.

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

/**
 * The checks that count work: the manifest's preconditions, and an acceptance check on the metric
 * of its work param (manifests written before preconditions put `seeds >= 3` there).
 */
export function preconditionsOf(manifest: Manifest): Precondition[] {
  const counted = manifest.work?.param;
  const legacy = (manifest.acceptance ?? []).filter((c) => c.metric === counted);
  return [...(manifest.preconditions ?? []), ...legacy];
}

/** The checks of the hypothesis: the acceptance checks that do not count work. */
export function hypothesisChecksOf(manifest: Manifest): AcceptanceCheck[] {
  const counted = manifest.work?.param;
  return (manifest.acceptance ?? []).filter((c) => c.metric !== counted);
}

export function describeCheck(check: AcceptanceCheck): string {
  const expected = Array.isArray(check.value) ? `[${check.value.join(', ')}]` : String(check.value);
  return `${check.metric} ${check.op} ${expected}`;
}
