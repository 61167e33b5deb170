import type { Manifest } from './types.js';

/** The headline figure of an experiment: the first metric its manifest declares (the schema says so). */
export function headlineMetric(manifest: Pick<Manifest, 'outputs'> | undefined): string | undefined {
  return Object.keys(manifest?.outputs.metrics ?? {})[0];
}

/** Median and range of the values, for "headline value with spread". */
export function spread(
  values: readonly number[],
): { median: number; min: number; max: number; n: number } | undefined {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted.at(-1) as number, n: sorted.length };
}
