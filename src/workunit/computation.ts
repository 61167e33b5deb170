import { createHash } from 'node:crypto';
import type { WorkunitInput } from './input.js';

/** JSON with keys sorted at every level, so that equal params give equal text. */
export function canonicalJson(value: unknown): string {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (typeof v === 'object' && v !== null)
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
      );
    return v;
  };
  return JSON.stringify(sorted(value));
}

/**
 * What identifies one computation: the experiment, the script, the seed and the params its
 * workunit asked for. Results with the same key ran the same computation and must agree, whatever
 * host and however many cores ran them.
 */
export function replicaKey(
  workunit: Pick<WorkunitInput, 'experiment' | 'script_sha256' | 'seed' | 'params'>,
): string {
  const text = canonicalJson([workunit.experiment, workunit.script_sha256, workunit.seed, workunit.params]);
  return createHash('sha256').update(text).digest('hex');
}
