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
 * Per experiment with a work model: the speed no honest result should beat, from the fastest host
 * the record measured at it (valid results, agreed with their replicas where they had some), times
 * MEASURED_MARGIN; without one, UNMEASURED_GFLOPS_PER_CORE. A volunteer's own benchmark never raises it.
 */
export function speedCeilings(record: ResearchRecord): (experiment: string) => SpeedCeiling {
  const fastest = new Map<string, { speed: number; result: number; host: number }>();
  for (const experiment of record.experiments) {
    const work = experiment.manifest?.work;
    if (!work) continue;
    for (const result of experiment.results) {
      const review = result.review;
      if (review?.verdict !== 'valid' || review.replication?.standing === 'outvoted') continue;
      const speed = measuredSpeed(work, result.envelope, review.cpus ?? 0, review.runtime_seconds ?? 0);
      const best = fastest.get(experiment.name);
      if (speed !== undefined && (!best || speed > best.speed))
        fastest.set(experiment.name, { speed, result: result.id, host: review.host });
    }
  }
  return (name) => {
    const best = fastest.get(name);
    return best
      ? {
          gflopsPerCore: MEASURED_MARGIN * best.speed,
          basis: `${MEASURED_MARGIN} times the fastest host measured at this experiment (host ${best.host}, ${best.speed.toPrecision(3)} per core in result ${best.result})`,
        }
      : {
          gflopsPerCore: UNMEASURED_GFLOPS_PER_CORE,
          basis: `no host measured at this experiment yet: ${UNMEASURED_GFLOPS_PER_CORE} per core assumed`,
        };
  };
}
