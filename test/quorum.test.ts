import { describe, expect, it } from 'vitest';
import {
  agreeingClasses,
  type ComputationState,
  decide,
  replicaFinding,
  type Vote,
} from '../src/collect/quorum.js';

// How one computation's results are decided, rule by rule, on results that differ in one metric.
let next = 0;
function vote(value: number, kind: Vote['kind'] = 'planned', host = 100 + next): Vote {
  next += 1;
  return {
    id: next,
    host,
    kind,
    where: 'this run',
    envelope: { status: 'ok', params: {}, metrics: { x: value }, series: {}, summary: '' },
  };
}

function state(votes: Vote[], overrides: Partial<ComputationState> = {}): ComputationState {
  return { quorum: 2, maxResults: 4, votes, pending: 0, members: votes.length, partial: 0, ...overrides };
}

const decision = (votes: Vote[], overrides: Partial<ComputationState> = {}) =>
  decide(state(votes, overrides), agreeingClasses(votes, undefined));

describe('a computation decided as a quorum', () => {
  it('waits while any workunit is out, whatever those back say', () => {
    expect(decision([vote(1), vote(1)], { pending: 1, members: 3 })).toEqual({ kind: 'wait', pending: 1 });
  });

  it('pays a unanimous quorum, and asks for a replacement when one is short', () => {
    const agreed = [vote(1), vote(1)];
    expect(decision(agreed)).toMatchObject({ kind: 'decided', how: 'unanimous', agreed, outvoted: [] });
    expect(decision([vote(1)], { members: 2 })).toEqual({ kind: 'more', reason: 'too-few', need: 1 });
    expect(decision([vote(1)], { members: 4 })).toMatchObject({ kind: 'person' });
  });

  it('pays nobody on a disagreement, two against one included, until a tie-breaker sides with one', () => {
    const [a, b, c] = [vote(1), vote(1), vote(2)];
    expect(decision([a, b, c], { quorum: 3, maxResults: 5 })).toEqual({
      kind: 'more',
      reason: 'disagreement',
      need: 1,
    });
    const tie = vote(2, 'tie-breaker');
    expect(decision([a, b, c, tie], { quorum: 2, maxResults: 5 })).toMatchObject({
      kind: 'decided',
      how: 'tie-breakers',
      agreed: [c, tie],
      outvoted: [a, b],
    });
    // A tie-breaker with a third answer confirms nobody.
    expect(decision([a, c, vote(3, 'tie-breaker')], { maxResults: 4 })).toEqual({
      kind: 'more',
      reason: 'disagreement',
      need: 1,
    });
    // Tie-breakers that split decide nothing; past the limit, a person does.
    expect(decision([a, c, vote(1, 'tie-breaker'), vote(2, 'tie-breaker')], { maxResults: 4 })).toMatchObject(
      {
        kind: 'person',
      },
    );
  });

  it('decides a computation of partial results as it stands, and leaves a lone complete one beside them to a person', () => {
    expect(decision([], { partial: 2, members: 2 })).toMatchObject({
      kind: 'decided',
      how: 'alone',
      agreed: [],
    });
    expect(decision([vote(1)], { partial: 1, members: 2 })).toMatchObject({ kind: 'person' });
  });

  it('names exactly whom a result agrees with and from whom it differs', () => {
    const [a, b, c] = [vote(1, 'planned', 1), vote(1, 'planned', 2), vote(1.5, 'planned', 3)];
    const classes = agreeingClasses([a, b, c], undefined);
    expect(replicaFinding(a, classes, undefined)).toBe(
      `agrees with result ${b.id} (host 2, this run) within the manifest's tolerances; disagrees with result ${c.id} (host 3, this run): against ${c.id}, x is 1 against 1.5 (must agree within 0.000001 relative); the environment of one of them is unknown`,
    );
  });
});
