import type { SanitisedEnvelope } from '../envelope/envelope.js';
import type { Manifest } from '../manifest/types.js';
import type { ResearchRecord } from '../record/research.js';
import { busyCores, workGflop } from '../workunit/plan.js';

/**
 * The fastest a core is taken to do an experiment's work before any host has been measured at it,
 * in 10^9 operations a second as BOINC's benchmark counts them (the unit of a manifest's work model):
 * four times the 7.65 this project's reference host measured (Debian's boinc-client 7.20.5 on the
 * development machine), since numpy over OpenBLAS does BLAS-heavy work two to four times faster than
 * over the reference BLAS the work models were calibrated with.
 */
export const UNMEASURED_GFLOPS_PER_CORE = 32;
/** A host may be this many times faster than the fastest one measured at an experiment before its time is a fast finish. */
export const MEASURED_MARGIN = 4;

/** The fastest a result of one experiment may have done its work, and why. */
export interface SpeedCeiling {
  gflopsPerCore: number;
  basis: string;
}

/** What one result's run says of its host's speed at the experiment's work, per core. */
export function measuredSpeed(
  work: NonNullable<Manifest['work']>,
  envelope: SanitisedEnvelope,
  cpus: number,
  seconds: number,
): number | undefined {
  const units = envelope.params[work.param];
  if (typeof units !== 'number' || !(seconds > 0) || !(cpus > 0)) return undefined;
  const share = envelope.status === 'partial' ? (envelope.progress ?? 0) : 1;
  return (workGflop(work, units) * share) / (seconds * busyCores(work, cpus));
}

/**
 * Per experiment with a work model: the speed no honest result should beat, from the fastest
 * computation the record measured at it, times MEASURED_MARGIN; without one,
 * UNMEASURED_GFLOPS_PER_CORE. Only computations whose quorum agreed across two hosts or more count,
 * each at the speed of its slowest agreeing result: a time is what a host says, so a lone result, or
 * one fast claim beside an honest partner, never lowers the floor for the next. A volunteer's own
 * benchmark never raises it.
 */
export function speedCeilings(record: ResearchRecord): (experiment: string) => SpeedCeiling {
  const fastest = new Map<string, { speed: number; result: number; host: number }>();
  for (const experiment of record.experiments) {
    const work = experiment.manifest?.work;
    if (!work) continue;
    const computations = new Map<string, { speed: number; result: number; host: number }[]>();
    for (const result of experiment.results) {
      const review = result.review;
      const replication = review?.replication;
      if (review?.verdict !== 'valid' || replication?.standing !== 'agreed' || !review.replica_key) continue;
      if (replication.decided !== 'unanimous' && replication.decided !== 'tie-breakers') continue;
      const speed = measuredSpeed(work, result.envelope, review.cpus ?? 0, review.runtime_seconds ?? 0);
      if (speed === undefined) continue;
      const list = computations.get(review.replica_key) ?? [];
      list.push({ speed, result: result.id, host: review.host });
      computations.set(review.replica_key, list);
    }
    for (const agreed of computations.values()) {
      if (new Set(agreed.map((a) => a.host)).size < 2) continue;
      const slowest = agreed.reduce((a, b) => (b.speed < a.speed ? b : a));
      const best = fastest.get(experiment.name);
      if (!best || slowest.speed > best.speed) fastest.set(experiment.name, slowest);
    }
  }
  return (name) => {
    const best = fastest.get(name);
    return best
      ? {
          gflopsPerCore: MEASURED_MARGIN * best.speed,
          basis: `${MEASURED_MARGIN} times the fastest computation its replicas agreed on at this experiment (its slowest agreeing result, ${best.result} on host ${best.host}, ${best.speed.toPrecision(3)} per core)`,
        }
      : {
          gflopsPerCore: UNMEASURED_GFLOPS_PER_CORE,
          basis: `no host measured at this experiment yet: ${UNMEASURED_GFLOPS_PER_CORE} per core assumed`,
        };
  };
}
