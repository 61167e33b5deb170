import type { ResearchRecord } from './research.js';

/**
 * Valid results in a quorum a host needs after being outvoted before its workunits run alone again:
 * BOINC's CONS_VALID_UNREPLICATED (sched/sched_config.h), below which its scheduler replicates every
 * job of a host (sched/sched_send.cpp set_trust); BOINC resets the count on an invalid result.
 */
export const CONSECUTIVE_VALID_TO_TRUST = 10;

/**
 * Hosts under watch: outvoted by a quorum in the record, and not yet agreed with one
 * CONSECUTIVE_VALID_TO_TRUST times since. Their workunits get a shadow replica on another host.
 */
export function watchedHosts(record: ResearchRecord): Set<number> {
  const results = record.experiments
    .flatMap((e) => e.results)
    .filter((r) => r.review?.replication)
    .sort((a, b) => a.id - b.id);
  const agreedSince = new Map<number, number>();
  for (const result of results) {
    const review = result.review;
    if (!review?.replication) continue;
    if (review.replication.standing === 'outvoted') agreedSince.set(review.host, 0);
    else if (review.replication.standing === 'agreed' && agreedSince.has(review.host))
      agreedSince.set(review.host, (agreedSince.get(review.host) ?? 0) + 1);
  }
  return new Set(
    [...agreedSince].filter(([, agreed]) => agreed < CONSECUTIVE_VALID_TO_TRUST).map(([host]) => host),
  );
}

/** Every seed the record holds results for, by experiment: a deployment never draws one of them again. */
export function recordedSeeds(record: ResearchRecord, experiment: string): Set<number> {
  const seeds = new Set<number>();
  for (const result of record.experiments.find((e) => e.name === experiment)?.results ?? [])
    if (result.envelope.seed !== undefined) seeds.add(result.envelope.seed);
  return seeds;
}
