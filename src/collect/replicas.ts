import type { SanitisedEnvelope } from '../envelope/envelope.js';
import { ENVIRONMENT_KEYS, type RunEnvironment } from '../envelope/report.js';
import type { Manifest, Tolerance } from '../manifest/types.js';
import type { ResultRecord } from '../record/research.js';

/** The tolerance of a number without a declared one. */
export const DEFAULT_RELATIVE = 1e-6;

/** The tolerance of a metric or series: declared in the manifest, else exact for integers. */
export function toleranceOf(
  manifest: Manifest | undefined,
  kind: 'metric' | 'series',
  key: string,
): Tolerance {
  if (kind === 'metric') {
    const spec = manifest?.outputs.metrics[key];
    return spec?.tolerance ?? (spec?.type === 'integer' ? 'exact' : { relative: DEFAULT_RELATIVE });
  }
  return manifest?.outputs.series?.[key]?.tolerance ?? { relative: DEFAULT_RELATIVE };
}

export function within(a: number, b: number, tolerance: Tolerance): boolean {
  if (tolerance === 'exact') return a === b;
  if ('band' in tolerance) return Math.abs(a - b) <= tolerance.band;
  return Math.abs(a - b) <= tolerance.relative * Math.max(Math.abs(a), Math.abs(b));
}

function describe(tolerance: Tolerance): string {
  if (tolerance === 'exact') return 'exactly';
  return 'band' in tolerance ? `within ${tolerance.band}` : `within ${tolerance.relative} relative`;
}

/**
 * Where two results of the same computation differ beyond the manifest's tolerances, in a sentence;
 * undefined when they agree on every metric and every series point.
 */
export function disagreement(
  a: SanitisedEnvelope,
  b: SanitisedEnvelope,
  manifest: Manifest | undefined,
): string | undefined {
  const metrics = [...new Set([...Object.keys(a.metrics), ...Object.keys(b.metrics)])].sort();
  for (const key of metrics) {
    const x = a.metrics[key];
    const y = b.metrics[key];
    if (x === undefined || y === undefined) return `metric ${key} is reported by only one of them`;
    const tolerance = toleranceOf(manifest, 'metric', key);
    if (!within(x, y, tolerance)) return `${key} is ${x} against ${y} (must agree ${describe(tolerance)})`;
  }
  const series = [...new Set([...Object.keys(a.series), ...Object.keys(b.series)])].sort();
  for (const key of series) {
    const xs = a.series[key];
    const ys = b.series[key];
    if (!xs || !ys) return `series ${key} is reported by only one of them`;
    if (xs.length !== ys.length) return `series ${key} has ${xs.length} points against ${ys.length}`;
    const tolerance = toleranceOf(manifest, 'series', key);
    const at = xs.findIndex((x, i) => !within(x, ys[i] as number, tolerance));
    if (at >= 0)
      return `series ${key} at point ${at + 1} is ${xs[at]} against ${ys[at]} (must agree ${describe(tolerance)})`;
  }
  return undefined;
}

/** One side of a comparison: a result and what ran it. */
export interface Replica {
  id: number;
  host: number;
  envelope: SanitisedEnvelope;
  environment?: RunEnvironment;
  /** Where it is: this run, the record, or an open results pull request. */
  where: 'this run' | 'the record' | 'an open results pull request';
}

/** The two environments side by side where they differ, so that a disagreement can be explained. */
export function environmentContrast(a?: RunEnvironment, b?: RunEnvironment): string {
  if (!a || !b) return 'the environment of one of them is unknown';
  const keys = ENVIRONMENT_KEYS.filter((k) => a[k] !== b[k]);
  if (keys.length === 0) return 'both ran the same numpy, BLAS and CPU model';
  return keys.map((k) => `${k} ${a[k] ?? 'unknown'} / ${b[k] ?? 'unknown'}`).join('; ');
}

/** A complete result: only those did all of the planned computation and can be compared. */
export function comparable(envelope: SanitisedEnvelope | undefined): envelope is SanitisedEnvelope {
  return envelope !== undefined && envelope.status === 'ok' && Object.keys(envelope.metrics).length > 0;
}

/**
 * A recorded result as the reference for its computation: only a valid, complete result whose
 * review names the computation (its replica key) is one.
 */
export function replicaOfRecord(
  result: ResultRecord,
  where: Replica['where'],
): { key: string; replica: Replica } | undefined {
  const review = result.review;
  if (!review?.replica_key || review.verdict !== 'valid' || !comparable(result.envelope)) return undefined;
  return {
    key: review.replica_key,
    replica: {
      id: result.id,
      host: review.host,
      envelope: result.envelope,
      ...(review.environment ? { environment: review.environment } : {}),
      where,
    },
  };
}
