import { join } from 'node:path';
import type { BoincStore, CreditSubject, DeployedWorkunit } from '../boinc/store.js';
import { loadConfig } from '../config/config.js';
import { judgeOutcome, type OutcomeJudgement } from '../envelope/acceptance.js';
import type { SanitisedEnvelope } from '../envelope/envelope.js';
import { EMPTY_ENVELOPE } from '../envelope/envelope.js';
import { SnapshotFleet } from '../fleet/snapshot.js';
import type { FleetSource, Host } from '../fleet/types.js';
import { DeployedManifests, isDeployed, type NotDeployed } from '../forge/deployed.js';
import type { Manifest } from '../manifest/types.js';
import type { Problem } from '../problems.js';
import { type ResearchRecord, type ResultRecord, readResearchRecord } from '../record/research.js';
import { watchedHosts } from '../record/watch.js';
import type { SchemaValidator } from '../schema/validate.js';
import { replicaKey } from '../workunit/computation.js';
import { type CheckContext, type CheckOutcome, checkResult, flagResult } from './checks.js';
import { CopyIndex } from './copies.js';
import { type Incoming, readSpool, type SetAside } from './intake.js';
import { capPerHostDay, ineligible, type Judgement, proposeCredit, type ResultJudge } from './judge.js';
import type { Collected } from './record.js';
import {
  type Candidate,
  type HeldComputation,
  type Published,
  type RequestedReplica,
  type Standing,
  settle,
} from './settle.js';
import { speedCeilings } from './speed.js';

/** What open results pull requests already propose: their results, and the workunits they pay. */
export interface Proposed {
  results: ReadonlySet<number>;
  /** Workunit → the result it is paid through. */
  paidWorkunits: ReadonlyMap<string, number>;
  /** The results in their data files, as the record reads its own. */
  records?: readonly ResultRecord[];
}

export const NOTHING_PROPOSED: Proposed = { results: new Set(), paidWorkunits: new Map() };

/** The record keeps at most this much of one result's envelope; past it, its series are left out. */
export const RECORD_ENVELOPE_BYTES = 64 * 1024;

export interface CollectOptions {
  root: string;
  spoolDir: string;
  /** What the open results pull requests already propose. */
  proposed: Proposed;
  store?: BoincStore;
  validator: SchemaValidator;
  judge: ResultJudge;
  /** The collection run id, e.g. 2026-11-25T120000Z. */
  run: string;
  /** Credit one host may be proposed per UTC day. */
  hostDayLimit: number;
  /** Where extra replicas may go; default: the fleet snapshot axiom.yaml names. */
  fleet?: FleetSource;
  /** Nothing is written to BOINC's database: no replica asked for, no computation closed. */
  dryRun?: boolean;
  now?: () => Date;
  progress?: (line: string) => void;
}

export interface CollectOutcome {
  run: string;
  collected: Collected[];
  /** Results the judge could not answer now: left in the spool for the next run. */
  deferred: number;
  skipped: number;
  /** Spool entries that could not be read or judged: moved aside by the caller, listed for the reviewer. */
  setAside: SetAside[];
  /** Computations whose results wait in the spool, unpublished, until they are decided. */
  held: HeldComputation[];
  /** Replicas asked for to decide a computation: tie-breakers, replacements. */
  requested: RequestedReplica[];
  problems: Problem[];
  /** The record as it was before this run. */
  record: ResearchRecord;
}

/** What the record on this checkout already holds: results, paid workunits, credit per host and day. */
function existingOf(record: ResearchRecord) {
  const ids = new Set<number>();
  const hostDay = new Map<string, number>();
  const paidWorkunits = new Map<string, number>();
  for (const result of record.experiments.flatMap((e) => e.results)) {
    ids.add(result.id);
    const review = result.review;
    if (!review) continue;
    const key = `${review.host} ${review.received_at.slice(0, 10)}`;
    hostDay.set(key, (hostDay.get(key) ?? 0) + review.proposed_credit);
    if ((result.credit ?? review.proposed_credit) > 0 && !paidWorkunits.has(review.workunit))
      paidWorkunits.set(review.workunit, result.id);
  }
  return { ids, hostDay, paidWorkunits };
}

/** Every published result (the record, then open results pull requests) for the copy check and by computation. */
function publishedOf(record: ResearchRecord, proposed: Proposed) {
  const copies = new CopyIndex();
  const byComputation = new Map<string, Published[]>();
  const add = (result: ResultRecord, where: Published['where']) => {
    const review = result.review;
    copies.add({
      id: result.id,
      host: review?.host ?? 0,
      experiment: result.experiment,
      ...(review?.replica_key ? { computation: review.replica_key } : {}),
      where,
      ...(review ? { receivedAt: Date.parse(review.received_at) } : {}),
      envelope: result.envelope,
    });
    if (!review?.replica_key) return;
    const list = byComputation.get(review.replica_key) ?? [];
    list.push({
      id: result.id,
      host: review.host,
      workunit: review.workunit,
      where,
      numbers: Object.keys(result.envelope.metrics).length > 0,
      receivedAt: review.received_at,
    });
    byComputation.set(review.replica_key, list);
  };
  for (const result of record.experiments.flatMap((e) => e.results)) add(result, 'the record');
  for (const result of proposed.records ?? []) add(result, 'an open results pull request');
  return { copies, byComputation };
}

/** Who a computation's workunits went to, and when its seed first went into a workunit. */
interface ComputationMembers {
  hosts: Set<number>;
  /** ms since the epoch. */
  firstCreated: number;
}

/**
 * Copies, not computations: the numbers of any earlier result, whoever returned it, within the
 * manifest's tolerances. Which of two matching results is the copy: this one, when the earlier came
 * back before this computation's seed existed (or nothing says when either was); else the earlier
 * one, when its host also runs this computation (it had these numbers to copy, and may have
 * published them first to frame the honest partners); else it cannot be told, and the result is
 * held for a person, unpaid.
 */
function copyCheck(
  incoming: Incoming,
  key: string | undefined,
  manifest: Manifest | undefined,
  copies: CopyIndex,
  members: ReadonlyMap<string, ComputationMembers>,
): CheckOutcome {
  const base = { rule: 'copy', eligibility: true };
  const envelope = incoming.entry.envelope;
  if (!envelope || Object.keys(envelope.metrics).length === 0) return { ...base, passed: true };
  const host = incoming.name.host;
  const probe = {
    id: incoming.resultId,
    host,
    experiment: incoming.name.experiment,
    ...(key ? { computation: key } : {}),
    where: 'this run',
    receivedAt: Date.parse(incoming.entry.received_at),
    envelope,
  };
  const original = copies.copyOf(probe, manifest);
  copies.add(probe);
  if (!original) return { ...base, passed: true };
  const them = `result ${original.id} (host ${original.host}, ${original.experiment}${original.envelope.seed !== undefined ? `, seed ${original.envelope.seed}` : ''}, ${original.where})`;
  const own = key ? members.get(key) : undefined;
  // BOINC keeps both times to the second; a result back in the second its seed went out cannot have
  // been computed from it (the workunit must be sent, run and returned first).
  const before = own && original.receivedAt !== undefined && original.receivedAt <= own.firstCreated;
  if (own && !before && original.host !== host && own.hosts.has(original.host))
    return {
      ...base,
      passed: true,
      finding: `reports the numbers of ${them}, another computation, which came back after this computation's seed went out; host ${original.host} also runs this one, so it had these numbers: that result is taken for the copy, not this one`,
    };
  if (own && !before)
    return {
      rule: 'copy-undecided',
      passed: false,
      eligibility: false,
      finding: `held for a person: reports the numbers of ${them}, another computation, which came back after this computation's seed went out; which of the two is the copy cannot be told`,
    };
  return {
    ...base,
    passed: false,
    finding: `reports the numbers of ${them} within the manifest's tolerances on every number both report; that result ran another computation: a copy, not a computation`,
  };
}

/** The deployment record's workunits of the computations these results ran, read once for the copy check and settling. */
async function deployedRowsOf(
  intake: readonly Incoming[],
  store: CollectOptions['store'],
): Promise<DeployedWorkunit[]> {
  const keys = new Set(intake.flatMap((i) => (i.workunit ? [replicaKey(i.workunit)] : [])));
  return store && keys.size > 0 ? store.deployedWorkunits({ computations: [...keys] }) : [];
}

/** The hosts and first creation time of each computation. */
function membersOf(rows: readonly DeployedWorkunit[]): Map<string, ComputationMembers> {
  const members = new Map<string, ComputationMembers>();
  for (const row of rows) {
    const entry = members.get(row.computation) ?? { hosts: new Set<number>(), firstCreated: Infinity };
    entry.hosts.add(row.host);
    entry.firstCreated = Math.min(entry.firstCreated, row.createdAt * 1000);
    members.set(row.computation, entry);
  }
  return members;
}

interface Checked {
  incoming: Incoming;
  /** The computation its workunit asked for, when the spool entry carries the workunit. */
  key?: string;
  manifest?: Manifest;
  boinc?: CreditSubject;
  checks: CheckOutcome[];
  flags: string[];
  eligible: boolean;
}

async function checkAll(
  intake: Incoming[],
  options: CollectOptions,
  record: ResearchRecord,
  copies: CopyIndex,
  members: ReadonlyMap<string, ComputationMembers>,
  setAside: SetAside[],
): Promise<Checked[]> {
  const deployed = new DeployedManifests(options.root, options.validator);
  const ceilingOf = speedCeilings(record);
  const subjects: Map<number, CreditSubject> = options.store
    ? await options.store.creditSubjects(intake.map((i) => i.resultId))
    : new Map();
  const checked: Checked[] = [];
  for (const incoming of intake) {
    try {
      const found = await deployed.of(incoming.name.experiment, incoming.workunit?.manifest_commit);
      const manifest = isDeployed(found) ? found.manifest : undefined;
      const boinc = subjects.get(incoming.resultId);
      const context: CheckContext = {
        incoming,
        validator: options.validator,
        databaseConnected: options.store !== undefined,
        ceiling: ceilingOf(incoming.name.experiment),
        ...(manifest ? { manifest } : { manifestMissing: (found as NotDeployed).missing }),
        ...(boinc ? { boinc } : {}),
      };
      const key = incoming.workunit ? replicaKey(incoming.workunit) : undefined;
      const checks = [...checkResult(context), copyCheck(incoming, key, manifest, copies, members)];
      checked.push({
        incoming,
        ...(key ? { key } : {}),
        ...(manifest ? { manifest } : {}),
        ...(boinc ? { boinc } : {}),
        checks,
        flags: flagResult(context),
        eligible: checks.every((c) => c.passed || !c.eligibility),
      });
    } catch (error) {
      // Data no rule foresaw: this entry waits for a person; every other result goes on.
      setAside.push({
        file: incoming.file,
        reason: `could not be judged: ${(error as Error).message.slice(0, 300)}`,
      });
    }
  }
  return checked;
}

async function judgeEligible(
  checked: Checked[],
  judge: ResultJudge,
): Promise<Map<number, Judgement | undefined>> {
  const toJudge = checked.filter((c) => c.eligible && c.manifest && c.incoming.entry.envelope);
  const judgements = await judge.judge(
    toJudge.map((c) => ({
      resultId: c.incoming.resultId,
      envelope: c.incoming.entry.envelope as SanitisedEnvelope,
      manifest: c.manifest as Manifest,
      checks: c.checks,
      ...(c.incoming.workunit ? { params: c.incoming.workunit.params } : {}),
    })),
  );
  return new Map(toJudge.map((c, i) => [c.incoming.resultId, judgements[i]]));
}

/** The results of this run that belong to a deployed computation, as settling it needs them. */
function candidatesOf(checked: readonly Checked[]): Candidate[] {
  return checked.flatMap((c): Candidate[] => {
    const input = c.incoming.workunit;
    if (!c.key || !input) return [];
    const { envelope, client, received_at: receivedAt } = c.incoming.entry;
    return [
      {
        resultId: c.incoming.resultId,
        workunit: c.incoming.name.name,
        host: c.boinc?.hostId ?? c.incoming.name.host,
        computation: c.key,
        eligible: c.eligible,
        ...(envelope ? { envelope } : {}),
        ...(client?.environment ? { environment: client.environment } : {}),
        receivedAt,
        ...(c.manifest ? { manifest: c.manifest } : {}),
        input,
      },
    ];
  });
}

/** Where a computation's decision leaves a judged result: outvoted is invalid, held is for a person. */
function applyStanding(c: Checked, judgement: Judgement, standing: Standing | undefined): void {
  if (!standing) return;
  c.checks.push(standing.check);
  if (standing.standing === 'agreed') return;
  if (judgement.verdict === 'valid')
    judgement.verdict = standing.standing === 'outvoted' ? 'invalid' : 'suspicious';
  judgement.flags.push(`replicas: ${standing.check.finding ?? ''}`);
}

/** A check that holds a result for a person besides its computation's standing (an undecided copy). */
function heldBy(c: Checked): CheckOutcome | undefined {
  return c.checks.find((check) => !check.passed && !check.eligibility && check.rule === 'copy-undecided');
}

function applyHold(c: Checked, judgement: Judgement): void {
  const hold = heldBy(c);
  if (!hold) return;
  if (judgement.verdict === 'valid') judgement.verdict = 'suspicious';
  judgement.flags.push(`${hold.rule}: ${hold.finding ?? ''}`);
}

/** A partial result's share of its planned work, which scales its credit; 1 for a finished one. */
function workShareOf(envelope: SanitisedEnvelope | undefined): number | undefined {
  if (envelope?.status !== 'partial') return undefined;
  return envelope.progress ?? 0;
}

/** The envelope as the record keeps it: past RECORD_ENVELOPE_BYTES its series are left out, with a flag. */
function recordedEnvelope(envelope: SanitisedEnvelope, flags: string[]): SanitisedEnvelope {
  const size = JSON.stringify(envelope).length;
  if (size <= RECORD_ENVELOPE_BYTES) return envelope;
  flags.push(
    `series left out of the record: the result is ${size} bytes; the record keeps ${RECORD_ENVELOPE_BYTES}`,
  );
  return { ...envelope, series: {} };
}

/** How long the task ran: BOINC's measurement, else the client's, else the script's own. */
function runtimeOf(c: Checked): { runtimeSeconds?: number } {
  const seconds =
    c.boinc && c.boinc.elapsedTime > 0
      ? c.boinc.elapsedTime
      : (c.incoming.entry.client?.elapsed_seconds ?? c.incoming.entry.envelope?.elapsed_seconds);
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0
    ? { runtimeSeconds: seconds }
    : {};
}

/** A result's outcome and what decided it, as a review records them. */
function outcomeFields(judged: OutcomeJudgement): Pick<Collected, 'outcome' | 'outcomeReason'> {
  return { outcome: judged.outcome, outcomeReason: judged.reason };
}

function collectedOf(c: Checked, judgement: Judgement, standing: Standing | undefined): Collected {
  const { incoming } = c;
  judgement.flags.push(...c.flags);
  const workShare = workShareOf(incoming.entry.envelope);
  const paid = c.eligible && !heldBy(c) && (standing === undefined || standing.standing === 'agreed');
  const full = proposeCredit(c.manifest?.credit_cap ?? 0, judgement, paid);
  if (workShare !== undefined && full > 0)
    judgement.flags.push(
      `partial: did ${Math.round(workShare * 100)}% of its planned work; paid in proportion, ${Math.round(full * workShare)} of ${full}`,
    );
  return {
    resultId: incoming.resultId,
    workunit: incoming.name.name,
    experiment: incoming.name.experiment,
    host: c.boinc?.hostId ?? incoming.entry.host_id ?? incoming.name.host,
    user: c.boinc?.userId ?? incoming.entry.user_id ?? 0,
    team: c.boinc?.teamId ?? 0,
    receivedAt: incoming.entry.received_at,
    envelope: recordedEnvelope(incoming.entry.envelope ?? EMPTY_ENVELOPE, judgement.flags),
    ...(c.manifest ? { manifest: c.manifest } : {}),
    checks: c.checks,
    eligible: c.eligible,
    judgement,
    ...outcomeFields(
      judgeOutcome(
        incoming.entry.envelope ?? EMPTY_ENVELOPE,
        c.manifest,
        incoming.entry.verdict === 'accepted',
      ),
    ),
    credit: workShare === undefined ? full : Math.round(full * workShare),
    ...(workShare !== undefined ? { workShare } : {}),
    ...runtimeOf(c),
    ...(incoming.workunit?.manifest_commit ? { manifestCommit: incoming.workunit.manifest_commit } : {}),
    ...(incoming.workunit ? { scriptSha256: incoming.workunit.script_sha256 } : {}),
    ...(c.key ? { replicaKey: c.key } : {}),
    ...(standing?.replication ? { replication: standing.replication } : {}),
    ...(c.manifest ? { creditCap: c.manifest.credit_cap } : {}),
    ...(incoming.workunit ? { cpus: incoming.workunit.cpus } : {}),
    isolation: incoming.entry.client?.isolation ?? 'unknown',
    ...(incoming.entry.client ? { client: incoming.entry.client } : {}),
    ...(judgement.provenance ? { provenance: judgement.provenance } : {}),
  };
}

/**
 * A workunit is paid once: through its first valid result (in result order), whether that is in the
 * record, in an open results pull request, or in this run. Later ones are recorded, with the reason,
 * and paid nothing.
 */
function payEachWorkunitOnce(collected: Collected[], paid: Map<string, number>): void {
  for (const item of collected) {
    const first = paid.get(item.workunit);
    if (first !== undefined && first !== item.resultId) {
      const finding = `workunit ${item.workunit} is already paid through result ${first}; a workunit is paid once`;
      item.checks.push({ rule: 'one-per-workunit', passed: false, eligibility: true, finding });
      item.eligible = false;
      item.credit = 0;
      item.judgement.flags.push(`one-per-workunit: ${finding}`);
      continue;
    }
    if (item.credit > 0) paid.set(item.workunit, item.resultId);
    else item.checks.push({ rule: 'one-per-workunit', passed: true, eligibility: true });
  }
}

/**
 * One collection run: reads the spool, checks every new result by the rules against what its
 * workunit asked for, settles each computation as a quorum (holding back those not yet decided and
 * asking for the replicas they need), asks the judge about the eligible ones, and decides credit in
 * code. What cannot be read or judged is set aside; every other result goes on.
 */
export async function collect(options: CollectOptions): Promise<CollectOutcome> {
  // The record is read once: it answers what is collected already, gives the manifests, and the plots
  // of this run are drawn with it.
  const record = readResearchRecord(options.root, options.validator);
  const existing = existingOf(record);
  const published = publishedOf(record, options.proposed);
  const intake = readSpool(
    options.spoolDir,
    new Set([...existing.ids, ...options.proposed.results]),
    options.validator,
  );
  if (intake.incoming.length >= 500)
    options.progress?.(`collect: ${intake.incoming.length} new results, ${intake.skipped} already collected`);
  const setAside = [...intake.setAside];
  const deployed = await deployedRowsOf(intake.incoming, options.store);
  const all = await checkAll(
    intake.incoming,
    options,
    record,
    published.copies,
    membersOf(deployed),
    setAside,
  );
  const settlement = await settle(candidatesOf(all), {
    ...(options.store ? { store: options.store } : {}),
    deployed,
    hosts: fleetOf(options),
    watched: watchedHosts(record),
    published: published.byComputation,
    now: (options.now ?? (() => new Date()))(),
    dryRun: options.dryRun === true,
  });
  const held = new Set(settlement.held.flatMap((h) => h.results));
  if (held.size > 0)
    options.progress?.(
      `collect: ${held.size} results wait in the spool until their computations are decided`,
    );
  const checked = all.filter((c) => !held.has(c.incoming.resultId));
  const judgements = await judgeEligible(checked, options.judge);
  // A result the judge could not answer now stays in the spool: not collected, judged next run.
  const answered = checked.filter(
    (c) => !(judgements.has(c.incoming.resultId) && !judgements.get(c.incoming.resultId)),
  );
  const deferred = checked.length - answered.length;
  if (deferred > 0)
    options.progress?.(`collect: ${deferred} results got no answer from the judge; they wait in the spool`);
  const collected = answered.map((c) => {
    const judgement = judgements.get(c.incoming.resultId) ?? ineligible(c.checks);
    const standing = settlement.standings.get(c.incoming.resultId);
    applyStanding(c, judgement, standing);
    applyHold(c, judgement);
    return collectedOf(c, judgement, standing);
  });
  payEachWorkunitOnce(collected, new Map([...existing.paidWorkunits, ...options.proposed.paidWorkunits]));
  const capped = collected.map((item) => ({
    host: item.host,
    day: item.receivedAt.slice(0, 10),
    credit: item.credit,
    flags: item.judgement.flags,
  }));
  capPerHostDay(capped, existing.hostDay, options.hostDayLimit);
  collected.forEach((item, i) => {
    item.credit = capped[i]?.credit ?? 0;
  });
  return {
    run: options.run,
    collected,
    deferred,
    skipped: intake.skipped,
    setAside,
    held: settlement.held,
    requested: settlement.requested,
    problems: intake.problems,
    record,
  };
}

/** The hosts extra replicas may go to, read once when first needed. */
function fleetOf(options: CollectOptions): () => Promise<readonly Host[]> {
  let hosts: Promise<readonly Host[]> | undefined;
  return () => {
    hosts ??= (async () => {
      if (options.fleet) return options.fleet.readHosts();
      const { config } = loadConfig(options.root, options.validator);
      const file = config?.fleet ?? 'fleet.yaml';
      return new SnapshotFleet(join(options.root, file), file, options.validator).readHosts().catch(() => []);
    })();
    return hosts;
  };
}
