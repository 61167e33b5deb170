import type { ReplicaKind } from '../boinc/store.js';
import type { Manifest } from '../manifest/types.js';
import type { ReplicationReview } from '../record/review.js';
import { disagreement, environmentContrast, type Replica } from './replicas.js';

/**
 * How the results of one computation are decided, after BOINC's validator (sched/validate_util2.cpp
 * check_set: results are compared pairwise once a quorum is in, and when none qualifies the
 * transitioner sends more replicas), with two departures that protect an honest volunteer:
 * - Arrival order never matters, and a majority among the original replicas does not either: any
 *   disagreement leaves every result unpaid until tie-breakers, replicas sent afterwards to hosts
 *   the project chose, agree with one side. Two colluding hosts cannot outvote an honest one.
 * - A result is one vote per host: a second result of the same host, or of the same workunit,
 *   is not another opinion.
 */

/** One complete, eligible result of a computation, and why its workunit exists. */
export interface Vote extends Replica {
  kind: ReplicaKind;
}

/** Results that agree with one another, every pair of them within the manifest's tolerances. */
export type AgreeingClass = Vote[];

export type Decision =
  /** Members are still out: nothing is published or paid, so nobody can copy a partner's numbers. */
  | { kind: 'wait'; pending: number }
  /** The quorum agreed: `agreed` are valid, `outvoted` disagreed with the tie-breakers' answer. */
  | { kind: 'decided'; how: 'unanimous' | 'tie-breakers' | 'alone'; agreed: Vote[]; outvoted: Vote[] }
  /** More results are needed: tie-breakers after a disagreement, replacements when too few came back. */
  | { kind: 'more'; reason: 'disagreement' | 'too-few'; need: number }
  /** No rule can decide within the manifest's limit: a person does; nothing is paid automatically. */
  | { kind: 'person'; reason: string };

export interface ComputationState {
  quorum: number;
  maxResults: number;
  /** Complete, eligible results, at most one per host, in result order. */
  votes: readonly Vote[];
  /**
   * Eligible results that ran out of time (status partial): they came back, but cannot be compared,
   * so they are neither votes nor members still to replace.
   */
  partial: number;
  /** Workunits of the computation still out (sent or not yet sent, within the wait). */
  pending: number;
  /** Every workunit the computation has or has asked for. */
  members: number;
}

/** Sorts results into classes whose members all agree with each other; the first class is the oldest. */
export function agreeingClasses(votes: readonly Vote[], manifest: Manifest | undefined): AgreeingClass[] {
  const classes: AgreeingClass[] = [];
  for (const vote of votes) {
    const same = classes.find((c) =>
      c.every((member) => disagreement(member.envelope, vote.envelope, manifest) === undefined),
    );
    if (same) same.push(vote);
    else classes.push([vote]);
  }
  return classes;
}

/** Decides a computation from its agreeing classes, or says what it waits for. */
export function decide(state: ComputationState, classes: readonly AgreeingClass[]): Decision {
  if (state.pending > 0) return { kind: 'wait', pending: state.pending };
  const room = state.maxResults - state.members;
  if (classes.length <= 1) {
    const agreed = classes[0] ?? [];
    if (agreed.length >= state.quorum && agreed.length > 0)
      return {
        kind: 'decided',
        how: state.quorum === 1 && agreed.length === 1 ? 'alone' : 'unanimous',
        agreed,
        outvoted: [],
      };
    // Only partial results: nothing to compare, and more replicas would run out of time as well.
    if (agreed.length === 0 && state.partial > 0)
      return { kind: 'decided', how: 'alone', agreed, outvoted: [] };
    const need = state.quorum - agreed.length - state.partial;
    if (need <= 0)
      return {
        kind: 'person',
        reason: `its other results ran out of time (partial), so ${agreed.length === 1 ? 'its one complete result' : 'its complete results'} cannot be checked against the quorum of ${state.quorum}`,
      };
    return room >= need
      ? { kind: 'more', reason: 'too-few', need }
      : {
          kind: 'person',
          reason: `${agreed.length} of the ${state.quorum} agreeing results its quorum needs came back, and the manifest allows no more than ${state.maxResults} results of one computation`,
        };
  }
  const tieBreakers = state.votes.filter((v) => v.kind === 'tie-breaker');
  const sided = classes.filter((c) => c.some((v) => v.kind === 'tie-breaker'));
  const winner = sided.length === 1 ? sided[0] : undefined;
  if (winner && tieBreakers.length > 0 && winner.length >= state.quorum)
    return {
      kind: 'decided',
      how: 'tie-breakers',
      agreed: winner,
      outvoted: classes.filter((c) => c !== winner).flat(),
    };
  return room > 0
    ? { kind: 'more', reason: 'disagreement', need: 1 }
    : {
        kind: 'person',
        reason: `its ${state.votes.length} results fall into ${classes.length} groups that disagree, and the manifest allows no more than ${state.maxResults} results of one computation`,
      };
}

const who = (votes: readonly Vote[]) => votes.map((v) => `${v.id} (host ${v.host}, ${v.where})`).join(', ');

/**
 * What the `replicas` check says of one result: exactly whom it agrees with, and from whom it differs
 * with the first value that differs and where the environments differ.
 */
export function replicaFinding(
  vote: Vote,
  classes: readonly AgreeingClass[],
  manifest: Manifest | undefined,
): string {
  const own = classes.find((c) => c.includes(vote)) ?? [vote];
  const peers = own.filter((v) => v !== vote);
  const parts: string[] = [];
  if (peers.length > 0)
    parts.push(
      `agrees with ${peers.length === 1 ? 'result' : 'results'} ${who(peers)} within the manifest's tolerances`,
    );
  for (const other of classes.filter((c) => c !== own)) {
    const first = other[0] as Vote;
    const how = disagreement(vote.envelope, first.envelope, manifest) ?? 'they differ';
    parts.push(
      `disagrees with ${other.length === 1 ? 'result' : 'results'} ${who(other)}: against ${first.id}, ${how}; ${environmentContrast(vote.environment, first.environment)}`,
    );
  }
  return parts.length ? parts.join('; ') : 'no other result of its computation to compare with';
}

/** The review's record of how a computation was decided, and where one result stands. */
export function replicationReview(
  vote: Vote | undefined,
  decision: Extract<Decision, { kind: 'decided' | 'person' }>,
  classes: readonly AgreeingClass[],
  quorum: number,
): ReplicationReview {
  const standing =
    decision.kind === 'person' || !vote ? 'held' : decision.agreed.includes(vote) ? 'agreed' : 'outvoted';
  return {
    decided: decision.kind === 'person' ? 'person' : decision.how,
    standing,
    quorum,
    classes: classes.map((c) => ({ results: c.map((v) => v.id), hosts: c.map((v) => v.host) })),
  };
}
