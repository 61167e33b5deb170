import type { SanitisedEnvelope } from '../envelope/envelope.js';
import type { Manifest, Tolerance } from '../manifest/types.js';
import { toleranceOf, within } from './replicas.js';

/**
 * The copy check: a result whose numbers match an earlier result's within the experiment's own
 * noise level (the tolerances its same-seed replicas must agree within) is a copy, whichever host,
 * seed or experiment the earlier one came from, the same host included. Only the replicas of its own
 * computation may match it. With fresh seeds per deployment no honest result of another computation
 * comes that close on every number.
 *
 * Fast as the record grows: results are indexed by two of their numbers ("anchors") in buckets as
 * wide as their tolerances, so a probe compares itself in full only with the few results whose
 * anchors fall in its buckets or the ones beside them.
 */

/** One result the check knows: where it is, what it computed, and its numbers. */
export interface Known {
  id: number;
  host: number;
  experiment: string;
  /** The computation its workunit asked for; undefined for results without one. */
  computation?: string;
  where: string;
  /** When it came back (ms since the epoch), where known. */
  receivedAt?: number;
  envelope: SanitisedEnvelope;
}

/** Values in a result that are not whole numbers: below this many, matching numbers prove nothing. */
export const MIN_INFORMATIVE_VALUES = 3;

function bucketOf(value: number, tolerance: Tolerance): number {
  if (tolerance === 'exact') return value;
  if ('band' in tolerance) return Math.floor(value / tolerance.band);
  if (value === 0) return 0;
  // Logarithmic buckets as wide as the relative tolerance; the sign keeps ±x apart.
  const bucket = Math.floor(Math.log(Math.abs(value)) / Math.log1p(tolerance.relative));
  return value > 0 ? bucket + 1 : -(bucket + 1) - 2 ** 40;
}

const neighbours = (bucket: number, tolerance: Tolerance) =>
  tolerance === 'exact' ? [bucket] : [bucket - 1, bucket, bucket + 1];

/** A number of a result an index is keyed by: a metric, or the first point of a series. */
interface Anchor {
  kind: 'metric' | 'series';
  key: string;
  tolerance: Tolerance;
}

const valueAt = (envelope: SanitisedEnvelope, anchor: Anchor): number | undefined =>
  anchor.kind === 'metric' ? envelope.metrics[anchor.key] : envelope.series[anchor.key]?.[0];

/**
 * The two numbers a probe is looked up by: its metrics with a tolerance (not exact) first, then the
 * first point of its series; so a metric that takes few values (an accuracy, a count) does not put
 * most of the record in one bucket. Exact metrics only when nothing else is there.
 */
function anchorsOf(envelope: SanitisedEnvelope, manifest: Manifest | undefined): Anchor[] {
  // Keys the manifest declares, where it declares any: a key a copier adds cannot be the lookup.
  const declaredMetrics = manifest ? Object.keys(manifest.outputs.metrics) : [];
  const declaredSeries = manifest ? Object.keys(manifest.outputs.series ?? {}) : [];
  const metricKeys = Object.keys(envelope.metrics).filter(
    (key) => declaredMetrics.length === 0 || declaredMetrics.includes(key),
  );
  const seriesKeys = Object.keys(envelope.series).filter(
    (key) => declaredSeries.length === 0 || declaredSeries.includes(key),
  );
  const metrics = metricKeys
    .sort()
    .map((key): Anchor => ({ kind: 'metric', key, tolerance: toleranceOf(manifest, 'metric', key) }));
  const series = seriesKeys
    .sort()
    .filter((key) => (envelope.series[key]?.length ?? 0) > 0)
    .map((key): Anchor => ({ kind: 'series', key, tolerance: toleranceOf(manifest, 'series', key) }));
  const loose = [...metrics, ...series].filter((a) => a.tolerance !== 'exact');
  return [...loose, ...metrics.filter((a) => a.tolerance === 'exact')].slice(0, 2);
}

/** The buckets a probe's anchors fall in, with the ones beside each. */
function bucketKeys(envelope: SanitisedEnvelope, anchors: readonly Anchor[], spread: boolean): string[] {
  let keys = [''];
  for (const anchor of anchors) {
    const value = valueAt(envelope, anchor);
    if (value === undefined) return [];
    const bucket = bucketOf(value, anchor.tolerance);
    const buckets = spread ? neighbours(bucket, anchor.tolerance) : [bucket];
    keys = keys.flatMap((k) => buckets.map((b) => `${k}${b},`));
  }
  return keys;
}

function informative(envelope: SanitisedEnvelope): number {
  let count = 0;
  for (const v of Object.values(envelope.metrics)) if (!Number.isInteger(v)) count += 1;
  for (const series of Object.values(envelope.series))
    for (const v of series) {
      if (!Number.isInteger(v)) count += 1;
      if (count >= MIN_INFORMATIVE_VALUES) return count;
    }
  return count;
}

/** One number (or series) of a probe with its tolerance, worked out once for every result it meets. */
type ProbeNumber =
  | { kind: 'metric'; key: string; value: number; tolerance: Tolerance }
  | { kind: 'series'; key: string; values: number[]; tolerance: Tolerance };

/**
 * The probe's numbers in the order they are best compared: the results of a bucket agree on its
 * anchors already, so every other number is compared first and a non-copy is told apart at once.
 */
function probeNumbers(
  probe: SanitisedEnvelope,
  manifest: Manifest | undefined,
  anchors: readonly Anchor[],
): ProbeNumber[] {
  const anchored = (kind: string, key: string) => anchors.some((a) => a.kind === kind && a.key === key);
  const numbers: ProbeNumber[] = [
    ...Object.entries(probe.metrics).map(
      ([key, value]): ProbeNumber => ({
        kind: 'metric',
        key,
        value,
        tolerance: toleranceOf(manifest, 'metric', key),
      }),
    ),
    ...Object.entries(probe.series).map(
      ([key, values]): ProbeNumber => ({
        kind: 'series',
        key,
        values,
        tolerance: toleranceOf(manifest, 'series', key),
      }),
    ),
  ];
  return [
    ...numbers.filter((n) => !anchored(n.kind, n.key)),
    ...numbers.filter((n) => anchored(n.kind, n.key)),
  ];
}

/**
 * Whether every number the two results both report (the metrics both have, the points both series
 * have) agrees within the probe's tolerances, over at least MIN_INFORMATIVE_VALUES numbers that are
 * not whole: a copy with a metric or a point added, or a series cut short, is still a copy.
 */
function matches(probe: readonly ProbeNumber[], other: SanitisedEnvelope): boolean {
  let compared = 0;
  for (const number of probe) {
    if (number.kind === 'series') {
      if (!Object.hasOwn(other.series, number.key)) continue;
      const theirs = other.series[number.key] as number[];
      const { values } = number;
      for (let i = 0; i < Math.min(values.length, theirs.length); i++) {
        if (!within(values[i] as number, theirs[i] as number, number.tolerance)) return false;
        if (!Number.isInteger(values[i])) compared += 1;
      }
      continue;
    }
    if (!Object.hasOwn(other.metrics, number.key)) continue;
    if (!within(number.value, other.metrics[number.key] as number, number.tolerance)) return false;
    if (!Number.isInteger(number.value)) compared += 1;
  }
  return compared >= MIN_INFORMATIVE_VALUES;
}

interface Index {
  anchors: Anchor[];
  buckets: Map<string, number[]>;
}

export class CopyIndex {
  private readonly known: Known[] = [];
  /** Built lazily per pair of anchors: bucket keys → positions in `known`. */
  private readonly indexes = new Map<string, Index>();

  add(result: Known): void {
    const position = this.known.push(result) - 1;
    for (const index of this.indexes.values()) this.insert(index, position);
  }

  /** The earlier result this one copies, if any; results of its own computation never count. */
  copyOf(probe: Known, manifest: Manifest | undefined): Known | undefined {
    if (informative(probe.envelope) < MIN_INFORMATIVE_VALUES) return undefined;
    const anchors = anchorsOf(probe.envelope, manifest);
    if (anchors.length === 0) return undefined;
    const index = this.indexFor(anchors);
    const numbers = probeNumbers(probe.envelope, manifest, anchors);
    for (const key of bucketKeys(probe.envelope, anchors, true))
      for (const position of index.buckets.get(key) ?? []) {
        const other = this.known[position] as Known;
        if (other.id === probe.id) continue;
        if (other.computation !== undefined && other.computation === probe.computation) continue;
        if (matches(numbers, other.envelope)) return other;
      }
    return undefined;
  }

  private indexFor(anchors: Anchor[]): Index {
    const key = JSON.stringify(anchors);
    let index = this.indexes.get(key);
    if (!index) {
      index = { anchors, buckets: new Map() };
      this.indexes.set(key, index);
      for (let position = 0; position < this.known.length; position++) this.insert(index, position);
    }
    return index;
  }

  private insert(index: Index, position: number): void {
    const [key] = bucketKeys((this.known[position] as Known).envelope, index.anchors, false);
    if (key === undefined) return;
    const list = index.buckets.get(key);
    if (list) list.push(position);
    else index.buckets.set(key, [position]);
  }
}
