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
 * Fast as the record grows: results are indexed by one metric ("the anchor") in buckets as wide as
 * its tolerance, so a probe compares itself in full only with the few results whose anchor falls in
 * its bucket or the two beside it.
 */

/** One result the check knows: where it is, what it computed, and its numbers. */
export interface Known {
  id: number;
  host: number;
  experiment: string;
  /** The computation its workunit asked for; undefined for results without one. */
  computation?: string;
  where: string;
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

/** The metric a probe is looked up by: its first metric with a tolerance (not exact), else its first. */
function anchorOf(envelope: SanitisedEnvelope, manifest: Manifest | undefined): string | undefined {
  const keys = Object.keys(envelope.metrics).sort();
  return keys.find((k) => toleranceOf(manifest, 'metric', k) !== 'exact') ?? keys[0];
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

/** Whether every number the probe reports is matched by the other result within the probe's tolerances. */
function matches(
  probe: SanitisedEnvelope,
  other: SanitisedEnvelope,
  manifest: Manifest | undefined,
): boolean {
  for (const [key, value] of Object.entries(probe.metrics)) {
    const theirs = other.metrics[key];
    if (theirs === undefined || !within(value, theirs, toleranceOf(manifest, 'metric', key))) return false;
  }
  for (const [key, values] of Object.entries(probe.series)) {
    const theirs = other.series[key];
    if (!theirs || theirs.length !== values.length) return false;
    const tolerance = toleranceOf(manifest, 'series', key);
    for (let i = 0; i < values.length; i++)
      if (!within(values[i] as number, theirs[i] as number, tolerance)) return false;
  }
  return true;
}

export class CopyIndex {
  private readonly known: Known[] = [];
  /** Built lazily per anchor metric and tolerance: bucket → positions in `known`. */
  private readonly indexes = new Map<
    string,
    { metric: string; tolerance: Tolerance; buckets: Map<number, number[]> }
  >();

  add(result: Known): void {
    const position = this.known.push(result) - 1;
    for (const index of this.indexes.values()) this.insert(index, position);
  }

  /** The earlier result this one copies, if any; results of its own computation never count. */
  copyOf(probe: Known, manifest: Manifest | undefined): Known | undefined {
    if (informative(probe.envelope) < MIN_INFORMATIVE_VALUES) return undefined;
    const anchor = anchorOf(probe.envelope, manifest);
    if (anchor === undefined) return undefined;
    const tolerance = toleranceOf(manifest, 'metric', anchor);
    const index = this.indexFor(anchor, tolerance);
    const value = probe.envelope.metrics[anchor] as number;
    for (const bucket of neighbours(bucketOf(value, tolerance), tolerance))
      for (const position of index.buckets.get(bucket) ?? []) {
        const other = this.known[position] as Known;
        if (other.id === probe.id) continue;
        if (other.computation !== undefined && other.computation === probe.computation) continue;
        if (matches(probe.envelope, other.envelope, manifest)) return other;
      }
    return undefined;
  }

  private indexFor(metric: string, tolerance: Tolerance) {
    const key = `${metric} ${JSON.stringify(tolerance)}`;
    let index = this.indexes.get(key);
    if (!index) {
      index = { metric, tolerance, buckets: new Map() };
      this.indexes.set(key, index);
      for (let position = 0; position < this.known.length; position++) this.insert(index, position);
    }
    return index;
  }

  private insert(
    index: { metric: string; tolerance: Tolerance; buckets: Map<number, number[]> },
    position: number,
  ) {
    const value = (this.known[position] as Known).envelope.metrics[index.metric];
    if (value === undefined) return;
    const bucket = bucketOf(value, index.tolerance);
    const list = index.buckets.get(bucket);
    if (list) list.push(position);
    else index.buckets.set(bucket, [position]);
  }
}
