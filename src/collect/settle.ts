import type { BoincStore, DeployedWorkunit, WorkunitState } from '../boinc/store.js';
import { boundsFor } from '../deploy/deploy.js';
import type { RunEnvironment } from '../envelope/report.js';
import type { Host } from '../fleet/types.js';
import type { Manifest } from '../manifest/types.js';
import type { ReplicationReview } from '../record/review.js';
import { replicaKey } from '../workunit/computation.js';
import type { WorkunitInput } from '../workunit/input.js';
import {
  extraHost,
  extraReplicaInput,
  extraReplicaName,
  maxResultsOf,
  quorumOf,
} from '../workunit/replication.js';
import type { CheckOutcome } from './checks.js';
import {
  type AgreeingClass,
  agreeingClasses,
  type ComputationState,
  type Decision,
  decide,
  replicaFinding,
  replicationReview,
  type Vote,
} from './quorum.js';
import { comparable, disagreement } from './replicas.js';

/** One result of this run, as settling its computation needs it. */
export interface Candidate {
  resultId: number;
  workunit: string;
  host: number;
  computation: string;
  eligible: boolean;
  envelope?: Vote['envelope'];
  environment?: RunEnvironment;
  /** ISO time the assimilator received it. */
  receivedAt: string;
  manifest?: Manifest;
  input: WorkunitInput;
}

/** A result already published (the record, or an open results pull request) of a computation. */
export interface Published {
  id: number;
  host: number;
  workunit: string;
  where: Vote['where'];
  /** Whether its numbers are public: a result with metrics. */
  numbers: boolean;
  receivedAt: string;
}

export interface SettleContext {
  store?: Pick<
    BoincStore,
    'deployedWorkunits' | 'workunitStates' | 'cancelWorkunits' | 'recordWorkunits' | 'closeComputations'
  >;
  /** The deployment record's workunits of the computations being settled (at least). */
  deployed: readonly DeployedWorkunit[];
  /** The hosts extra replicas may go to (the fleet experiments may target). */
  hosts: () => Promise<readonly Host[]>;
  watched: ReadonlySet<number>;
  published: ReadonlyMap<string, readonly Published[]>;
  now: Date;
  /** Nothing is written: no replica asked for, no computation closed, nothing cancelled. */
  dryRun: boolean;
}

/** What a computation's decision says of one of its results. */
export interface Standing {
  check: CheckOutcome;
  replication?: ReplicationReview;
  /** agreed: paid as judged; outvoted or held: not paid unless a person decides to. */
  standing: ReplicationReview['standing'];
}

/** A computation whose results wait in the spool, unpublished, and why. */
export interface HeldComputation {
  computation: string;
  experiment: string;
  results: number[];
  reason: string;
}

/** A replica the project asked for to settle a computation. */
export interface RequestedReplica {
  name: string;
  host: number;
  kind: DeployedWorkunit['kind'];
  computation: string;
}

export interface Settlement {
  standings: Map<number, Standing>;
  /** Results kept back in the spool: their computation is not decided. */
  held: HeldComputation[];
  requested: RequestedReplica[];
}

/** What BOINC and the deployment record say of one computation's workunits. */
interface Members {
  rows: DeployedWorkunit[];
  states: Map<string, WorkunitState>;
}

/**
 * Settles every computation this run has results of, all results together and never by arrival
 * order (collect/quorum.ts): a computation with members still out waits, unpublished, so nobody can
 * copy a partner's numbers; one that is short of agreeing results, or whose results disagree, gets
 * replacements or tie-breakers on other hosts and waits for them; a decided one is closed, so
 * nothing more of it is ever created or sent.
 */
export async function settle(candidates: readonly Candidate[], context: SettleContext): Promise<Settlement> {
  const groups = new Map<string, Candidate[]>();
  for (const c of candidates) {
    const group = groups.get(c.computation);
    if (group) group.push(c);
    else groups.set(c.computation, [c]);
  }
  const rows = context.deployed.filter((r) => groups.has(r.computation));
  const states = context.store ? await context.store.workunitStates(rows.map((r) => r.name)) : new Map();
  const settlement: Settlement = { standings: new Map(), held: [], requested: [] };
  for (const [key, group] of groups) {
    const members: Members = { rows: rows.filter((r) => r.computation === key), states };
    await settleOne(key, group, members, context, settlement);
  }
  return settlement;
}

async function settleOne(
  key: string,
  group: readonly Candidate[],
  members: Members,
  context: SettleContext,
  out: Settlement,
): Promise<void> {
  const manifest = group.find((c) => c.manifest)?.manifest;
  const published = context.published.get(key) ?? [];
  const votes = votesOf(group, members.rows);
  const publicNumbers = published.filter((p) => p.numbers);
  if (publicNumbers.length > 0) return straggle(votes, publicNumbers, manifest, out);
  const classes = agreeingClasses(votes, manifest);
  const state = await stateOf(group, members, published, votes, manifest, context);
  let decision = decide(state, classes);
  if (decision.kind === 'more')
    decision = await askForMore(decision, key, group, members, manifest, context, out);
  if (decision.kind === 'wait' || decision.kind === 'more') {
    hold(key, group, decision, out);
    return;
  }
  for (const c of group) {
    if (state.quorum > 1 && c.eligible && c.envelope?.status === 'partial') {
      out.standings.set(c.resultId, unchecked(c, decision, classes, state.quorum));
      continue;
    }
    const vote = votes.find((v) => v.id === c.resultId) ?? extraVote(c, decision, manifest);
    if (!vote) continue;
    const replication = replicationReview(vote, decision, classes, state.quorum);
    const passed = replication.standing === 'agreed';
    const others = votes.length + published.length > 1;
    out.standings.set(c.resultId, {
      check: {
        rule: 'replicas',
        passed,
        eligibility: false,
        finding: others
          ? `${replicaFinding(vote, classes, manifest)}${passed ? '' : decision.kind === 'person' ? `; held for a person: ${decision.reason}` : '; outvoted: the tie-breakers agree with the others'}`
          : `the only result of its computation; its quorum is ${state.quorum}`,
      },
      replication,
      standing: replication.standing,
    });
  }
  if (!context.dryRun && context.store && members.rows.length > 0) {
    await context.store.closeComputations([key]);
    await context.store.cancelWorkunits(members.rows.map((r) => r.name));
  }
}

/**
 * A partial result of a computation with a quorum: its numbers cannot be compared with its partners',
 * so no rule can say it computed anything. Held for a person, who may pay it.
 */
function unchecked(
  c: Candidate,
  decision: Extract<Decision, { kind: 'decided' | 'person' }>,
  classes: readonly AgreeingClass[],
  quorum: number,
): Standing {
  return {
    check: {
      rule: 'replicas',
      passed: false,
      eligibility: false,
      finding: `held for a person: it ran out of time after ${Math.round(100 * (c.envelope?.progress ?? 0))}% of its work (partial), so its numbers cannot be compared with the ${quorum} agreeing results its computation's quorum needs`,
    },
    replication: replicationReview(undefined, decision, classes, quorum),
    standing: 'held',
  };
}

/** The results that count: complete and eligible, one per host and per workunit, in result order. */
function votesOf(group: readonly Candidate[], rows: readonly DeployedWorkunit[]): Vote[] {
  const kinds = new Map(rows.map((r) => [r.name, r.kind]));
  const hosts = new Set<number>();
  const workunits = new Set<string>();
  const votes: Vote[] = [];
  for (const c of [...group].sort((a, b) => a.resultId - b.resultId)) {
    if (!c.eligible || !comparable(c.envelope) || hosts.has(c.host) || workunits.has(c.workunit)) continue;
    hosts.add(c.host);
    workunits.add(c.workunit);
    votes.push({
      id: c.resultId,
      host: c.host,
      envelope: c.envelope,
      ...(c.environment ? { environment: c.environment } : {}),
      where: 'this run',
      kind: kinds.get(c.workunit) ?? 'planned',
    });
  }
  return votes;
}

/**
 * A complete, eligible result that is not a vote (its host or workunit already voted): it stands with
 * the decision when it agrees with every agreeing result, else it is held.
 */
function extraVote(
  c: Candidate,
  decision: Extract<Decision, { kind: 'decided' | 'person' }>,
  manifest: Manifest | undefined,
): Vote | undefined {
  if (!c.eligible || !comparable(c.envelope)) return undefined;
  const vote: Vote = {
    id: c.resultId,
    host: c.host,
    envelope: c.envelope,
    where: 'this run',
    kind: 'planned',
  };
  if (
    decision.kind === 'decided' &&
    decision.agreed.every((a) => disagreement(a.envelope, vote.envelope, manifest) === undefined)
  )
    decision.agreed.push(vote);
  return vote;
}

/**
 * A result whose computation already has numbers in public (a straggler after its partners were
 * published, or a workunit created before seeds were drawn per deployment): it may agree with them,
 * but a copy would too. Held for a person.
 */
function straggle(
  votes: readonly Vote[],
  published: readonly Published[],
  manifest: Manifest | undefined,
  out: Settlement,
): void {
  const reason = `results ${published.map((p) => `${p.id} (host ${p.host}, ${p.where})`).join(', ')} of the same computation were public before it came back, so a copy cannot be told from a computation`;
  const classes = agreeingClasses(votes, manifest);
  for (const vote of votes)
    out.standings.set(vote.id, {
      check: { rule: 'replicas', passed: false, eligibility: false, finding: `held for a person: ${reason}` },
      replication: replicationReview(vote, { kind: 'person', reason }, classes, 1),
      standing: 'held',
    });
}

/** Quorum, limit, and how many of the computation's workunits are still out and waited for. */
async function stateOf(
  group: readonly Candidate[],
  members: Members,
  published: readonly Published[],
  votes: readonly Vote[],
  manifest: Manifest | undefined,
  context: SettleContext,
): Promise<ComputationState> {
  if (members.rows.length === 0) {
    // Workunits from before seeds were drawn per deployment: decided by what is here, nothing more asked.
    return {
      quorum: manifest?.replication?.quorum ?? 1,
      maxResults: votes.length,
      pending: 0,
      members: votes.length,
      votes,
      partial: partialOf(group),
    };
  }
  const planned = members.rows.filter((r) => r.kind === 'planned' || r.kind === 'shadow').length;
  const quorum = manifest ? quorumOf(manifest, planned) : Math.max(1, planned);
  const back = new Set([...group.map((c) => c.workunit), ...published.map((p) => p.workunit)]);
  const firstBack = Math.min(
    ...[...group, ...published].map((r) => Date.parse(r.receivedAt)).filter(Number.isFinite),
  );
  const delay = Math.max(...members.rows.map((r) => r.bounds.delayBound));
  const expired = context.now.getTime() > firstBack + delay * 1000;
  const out = members.rows.filter(
    (row) => !back.has(row.name) && stillOut(row, members.states.get(row.name), expired),
  );
  if (expired && !context.dryRun && context.store) {
    // Past the wait, an unsent member is cancelled: it is never sent, so it never sees a published partner.
    await context.store.cancelWorkunits(members.rows.filter((r) => !back.has(r.name)).map((r) => r.name));
  }
  return {
    quorum,
    maxResults: manifest ? maxResultsOf(manifest, quorum) : quorum,
    pending: out.length,
    members: members.rows.length,
    votes,
    partial: partialOf(group),
  };
}

/** Eligible results of the computation that ran out of time: back, but not comparable. */
function partialOf(group: readonly Candidate[]): number {
  return group.filter((c) => c.eligible && c.envelope?.status === 'partial').length;
}

/** Whether a workunit of the computation may still bring a result that is to be waited for. */
function stillOut(row: DeployedWorkunit, state: WorkunitState | undefined, expired: boolean): boolean {
  if (!state?.exists) return !row.closed && !expired; // deploy has yet to create it
  if (state.errorMask !== 0) return false; // cancelled, or it failed: no result will come
  if (state.inProgress) return true; // BOINC's own deadline ends it
  if (state.returned) return !expired; // back at BOINC, not assimilated yet
  if (!state.sent) return !expired; // waiting for its host to ask for work
  return false; // sent and timed out
}

/** Asks for the replicas a decision needs, on hosts that fit; a person decides when none does. */
async function askForMore(
  decision: Extract<Decision, { kind: 'more' }>,
  key: string,
  group: readonly Candidate[],
  members: Members,
  manifest: Manifest | undefined,
  context: SettleContext,
  out: Settlement,
): Promise<Decision> {
  if (!manifest || !context.store)
    return { kind: 'person', reason: 'more results are needed, but none can be asked for here' };
  const template = group[0]?.input as WorkunitInput;
  const fleet = await context.hosts();
  const byId = new Map(fleet.map((h) => [h.id, h]));
  const usedHosts = new Set([...members.rows.map((r) => r.host), ...group.map((c) => c.host)]);
  const users = new Set(
    [...usedHosts].flatMap((h) => (byId.get(h)?.userId !== undefined ? [byId.get(h)?.userId as number] : [])),
  );
  const kind = decision.reason === 'disagreement' ? 'tie-breaker' : 'replacement';
  const rows: DeployedWorkunit[] = [];
  for (let i = 0; i < decision.need; i++) {
    const host = extraHost(fleet, manifest, { hosts: usedHosts, users, watched: context.watched });
    if (!host) break;
    usedHosts.add(host.id);
    if (host.userId !== undefined) users.add(host.userId);
    const name = await freeName(template, host.id, members, context);
    const input = extraReplicaInput(template, manifest, host, name);
    if (replicaKey(input) !== key) throw new Error(`extra replica ${name} would not run computation ${key}`);
    rows.push({
      name,
      experiment: template.experiment,
      computation: key,
      seed: input.seed,
      host: host.id,
      kind,
      input: `${JSON.stringify(input, null, 2)}\n`,
      bounds: boundsFor(manifest, { cpus: input.cpus, memoryGb: input.memory_gb }),
      createdAt: Math.floor(context.now.getTime() / 1000),
      closed: false,
    });
  }
  if (rows.length < decision.need)
    return {
      kind: 'person',
      reason: `${decision.reason === 'disagreement' ? 'its results disagree' : 'too few of its results came back'}, and no other host in the fleet fits the manifest, runs none of it and belongs to none of its volunteers`,
    };
  if (!context.dryRun) await context.store.recordWorkunits(rows);
  out.requested.push(...rows.map((r) => ({ name: r.name, host: r.host, kind: r.kind, computation: key })));
  return decision;
}

/** A workunit name for an extra replica on `host` that no workunit has yet. */
async function freeName(
  template: WorkunitInput,
  host: number,
  members: Members,
  context: SettleContext,
): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const name = extraReplicaName(template, host, attempt);
    if (members.rows.some((r) => r.name === name)) continue;
    const taken = (await context.store?.deployedWorkunits({ names: [name] })) ?? [];
    if (taken.length === 0) return name;
  }
}

function hold(
  key: string,
  group: readonly Candidate[],
  decision: Extract<Decision, { kind: 'wait' | 'more' }>,
  out: Settlement,
): void {
  const held = group.filter((c) => c.envelope && Object.keys(c.envelope.metrics).length > 0);
  if (held.length === 0) return;
  out.held.push({
    computation: key,
    experiment: held[0]?.input.experiment ?? '',
    results: held.map((c) => c.resultId),
    reason:
      decision.kind === 'wait'
        ? `${decision.pending} more of its workunits ${decision.pending === 1 ? 'is' : 'are'} still out; its results stay unpublished until they are in`
        : decision.reason === 'disagreement'
          ? 'its results disagree; a tie-breaker replica was sent to another host'
          : `too few agreeing results came back; ${decision.need === 1 ? 'a replacement was' : `${decision.need} replacements were`} sent to other hosts`,
  });
}

export type { AgreeingClass };
