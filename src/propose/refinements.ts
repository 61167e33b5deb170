import type { ParamValue } from '../manifest/types.js';
import { short } from '../record/findings.js';
import type { ResultRecord } from '../record/research.js';

/**
 * What the follow-up rules know of an experiment's science: whether its hypothesis is a transition
 * (resolved more finely where it happens) or a law (tested over a wider range), and how to add points
 * to its sweep. Keyed by the first experiment of its line of inquiry; an experiment not listed here
 * is neither, and a supported result of it has no rule to follow it up by.
 */
export interface Refinement {
  kind: 'transition' | 'law';
  /** The target param the script takes the added points in (a list, unioned with its own sweep). */
  param: string;
  /** The series of a result that holds the sweep it ran. */
  sweep: string;
  /** Where the sweep is refined or widened, from the supported results and the target's params. */
  plan(results: readonly ResultRecord[], params: Readonly<Record<string, ParamValue>>): RefinementPlan;
}

export interface RefinementPlan {
  /** The points added (joined with any the parent added). */
  points: number[];
  /** The work one unit does with the points added, relative to before (the script's cost model). */
  costRatio(before: readonly number[], after: readonly number[]): number;
  /** Whether resident memory grows with the sweep (by the same ratio). */
  memoryGrows: boolean;
  /** What is refined, as a short phrase for titles: "more gains near the critical gain". */
  phrase: string;
  why: string;
  wouldChange: string;
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

const metricOf = (results: readonly ResultRecord[], metric: string) =>
  results.flatMap((r) =>
    r.envelope.metrics[metric] !== undefined ? [r.envelope.metrics[metric] as number] : [],
  );

const range = (values: readonly number[]) =>
  values.length > 1
    ? `${short(median(values))} (from ${short(Math.min(...values))} to ${short(Math.max(...values))} over ${values.length} results)`
    : short(values[0] ?? Number.NaN);

const sum = (values: readonly number[]) => values.reduce((s, v) => s + v, 0);

/** Gains 0.025 apart within 0.1 of the crossing round 1 measured, inside the sweep's 0.5 to 3. */
const edgeOfChaos: Refinement = {
  kind: 'transition',
  param: 'extra_gains',
  sweep: 'gain',
  plan(results) {
    const crossings = metricOf(results, 'critical_gain');
    const at = median(crossings);
    const points = Array.from(
      { length: 9 },
      (_, k) => Math.round((at + (k - 4) * 0.025) * 1000) / 1000,
    ).filter((g) => g > 0.5 && g < 3);
    return {
      points,
      // Every gain is one more column of the same matrix products and one more set of read-outs.
      costRatio: (before, after) => after.length / Math.max(1, before.length),
      memoryGrows: true,
      phrase: 'more gains near the critical gain',
      why: `The last round supported the transition: the largest Lyapunov exponent crossed zero at gain ${range(crossings)}, on a sweep whose gains lie 0.05 or more apart there. Gains 0.025 apart from ${short(points[0] ?? at)} to ${short(points.at(-1) ?? at)} resolve the crossing where it happens.`,
      wouldChange: `If the crossing stays between 0.9 and 1.3 at this resolution, the conclusion that random tanh networks turn chaotic near gain 1 holds to about 0.025 in gain; if it moves out, the last round's support came from a coarse sweep and the conclusion is withdrawn until it is explained.`,
    };
  },
};

/** Widths every 1% of n within 10% of the interpolation threshold n (never n itself). */
const doubleDescent: Refinement = {
  kind: 'transition',
  param: 'extra_widths',
  sweep: 'width',
  plan(results, params) {
    const n = Number(params.n_train ?? metricOf(results, 'n_train')[0] ?? 200);
    const step = Math.max(1, Math.round(n / 100));
    const points: number[] = [];
    for (let w = Math.round(0.9 * n); w <= Math.round(1.1 * n); w += step) if (w !== n) points.push(w);
    const peaks = metricOf(results, 'peak_width_ratio');
    const dim = Number(params.dim ?? 20);
    const nTest = Number(params.n_test ?? 2000);
    // One fit at width w: features for train and test points, and the minimum-norm solve.
    const fit = (w: number) => w * (n + nTest) * dim + n * w * Math.min(n, w);
    return {
      points,
      costRatio: (before, after) => sum(after.map(fit)) / Math.max(1, sum(before.map(fit))),
      memoryGrows: false,
      phrase: 'more widths near the interpolation threshold',
      why: `The last round supported double descent: the test error peaked at ${range(peaks)} times the ${n} training points, on a sweep whose widths near n lie about ${Math.round(0.05 * n)} apart. Widths every ${step} from ${points[0]} to ${points.at(-1)} resolve the peak where it happens.`,
      wouldChange: `If the peak stays between 0.8 and 1.25 times n at this resolution, the conclusion that test error peaks at the interpolation threshold holds to about 1% of n; if it moves out, the last round's placement came from a coarse sweep and the conclusion is withdrawn until it is explained.`,
    };
  },
};

/** Widths 1.5 and 2 times the widest student: the law tested over half a decade more of parameters. */
const scalingLaw: Refinement = {
  kind: 'law',
  param: 'extra_widths',
  sweep: 'width',
  plan(results) {
    const widest = Math.max(...results.flatMap((r) => r.envelope.series.width ?? []), 1);
    const points = [Math.round(1.5 * widest), 2 * widest];
    const alphas = metricOf(results, 'alpha');
    const decades = metricOf(results, 'size_decades');
    return {
      points,
      // All students train as one block-diagonal network: the work grows with the hidden units.
      costRatio: (before, after) => sum(after) / Math.max(1, sum(before)),
      memoryGrows: false,
      phrase: 'a wider range of model sizes',
      why: `The last round supported the power law: alpha = ${range(alphas)} over ${range(decades)} decades of parameters, students up to width ${widest}. Students of width ${points.join(' and ')} test it over a wider range.`,
      wouldChange: `If the exponent stays between 0.8 and 2 with r2 at least 0.95 over the wider range, the law holds beyond the sizes the last round covered; if the curve bends there, the law is bounded to those sizes, and the conclusion says so.`,
    };
  },
};

/** The refinements by the first experiment of a line of inquiry. */
export const REFINEMENTS: Readonly<Record<string, Refinement>> = {
  edge_of_chaos: edgeOfChaos,
  double_descent: doubleDescent,
  neural_scaling_laws: scalingLaw,
};
