import type { BoincStore, CreditSubject } from '../boinc/store.js';
import { judgeOutcome, type OutcomeJudgement } from '../envelope/acceptance.js';
import type { SanitisedEnvelope } from '../envelope/envelope.js';
import { EMPTY_ENVELOPE } from '../envelope/envelope.js';
import { fileAtCommit } from '../forge/git.js';
import { parseManifest } from '../manifest/load.js';
import type { Manifest } from '../manifest/types.js';
import type { Problem } from '../problems.js';
import { type ResearchRecord, readResearchRecord } from '../record/research.js';
import type { SchemaValidator } from '../schema/validate.js';
import { replicaKey } from '../workunit/computation.js';
import { type CheckContext, type CheckOutcome, checkResult, fingerprint, flagResult } from './checks.js';
import { type Incoming, readSpool, type SetAside } from './intake.js';
import { capPerHostDay, ineligible, type Judgement, proposeCredit, type ResultJudge } from './judge.js';
import type { Collected } from './record.js';
import { comparable, disagreement, environmentContrast, type Replica, replicaOfRecord } from './replicas.js';

/** What open results pull requests already propose: their results, and the workunits they pay. */
export interface Proposed {
  results: ReadonlySet<number>;
  /** Workunit → the result it is paid through. */
  paidWorkunits: ReadonlyMap<string, number>;
  /** Replica key → the first valid complete result of that computation they hold. */
  replicas?: ReadonlyMap<string, Replica>;
}

export const NOTHING_PROPOSED: Proposed = { results: new Set(), paidWorkunits: new Map() };

/** What a result's payload is compared with: who returned it, for which computation, how long it said it ran. */
interface Seen {
  id: number;
  host: number;
  seed?: number;
  key?: string;
  elapsed?: number;
}

/** The record keeps at most this much of one result's envelope; past it, its series are left out. */
export const RECORD_ENVELOPE_BYTES = 64 * 1024;

/** The manifest of an experiment as it was at a commit; undefined when the history does not have it. */
export type ManifestAt = (experiment: string, commit: string) => Promise<Manifest | undefined>;

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
  /** Default: the manifest at that commit in the git history of `root`. */
  manifestAt?: ManifestAt;
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
  problems: Problem[];
  /** The record as it was before this run. */
  record: ResearchRecord;
}

/** Reads manifests out of the git history of `root`, once per commit and experiment. */
export function manifestsFromHistory(root: string, validator: SchemaValidator): ManifestAt {
  const cache = new Map<string, Promise<Manifest | undefined>>();
  return (experiment, commit) => {
    const key = `${commit}:${experiment}`;
    let found = cache.get(key);
    if (!found) {
      const file = `manifests/${experiment}.yaml`;
      found = fileAtCommit(root, commit, file).then((text) =>
        text === undefined ? undefined : parseManifest(file, text, validator).manifest,
      );
      cache.set(key, found);
    }
    return found;
  };
}

/** What the record on this checkout already holds: results, fingerprints, paid workunits, credit per host and day. */
function existingOf(record: ResearchRecord) {
  const ids = new Set<number>();
  const fingerprints = new Map<string, Seen>();
  const replicas = new Map<string, Replica>();
  const hostDay = new Map<string, number>();
  const paidWorkunits = new Map<string, number>();
  for (const result of record.experiments.flatMap((e) => e.results)) {
    ids.add(result.id);
    const review = result.review;
    if (!review) continue; // without a readable review it cannot be compared
    const seed = result.envelope.seed;
    fingerprints.set(fingerprint(result.envelope), {
      id: result.id,
      host: review.host,
      ...(seed !== undefined ? { seed } : {}),
      ...(review.replica_key ? { key: review.replica_key } : {}),
      ...(result.envelope.elapsed_seconds !== undefined ? { elapsed: result.envelope.elapsed_seconds } : {}),
    });
    const reference = replicaOfRecord(result, 'the record');
    if (reference && !replicas.has(reference.key)) replicas.set(reference.key, reference.replica);
    const key = `${review.host} ${review.received_at.slice(0, 10)}`;
    hostDay.set(key, (hostDay.get(key) ?? 0) + review.proposed_credit);
    if ((result.credit ?? review.proposed_credit) > 0 && !paidWorkunits.has(review.workunit))
      paidWorkunits.set(review.workunit, result.id);
  }
  return { ids, fingerprints, hostDay, paidWorkunits, replicas };
}

/**
 * The members of a group of results of one computation that are suspicious, with a result each
 * disagrees with and how. Members are sorted into classes that agree with each class's first
 * member, so a group that agrees, the usual case, costs one pass. A class holding more than half of
 * the group stands, so one bad replica among honest ones is the only one flagged; without such a
 * majority (a pair that disagrees, say) every member is.
 */
function disagreements(
  group: readonly Replica[],
  manifest: Manifest | undefined,
): Map<number, [Replica, string]> {
  const classes: Replica[][] = [];
  for (const member of group) {
    const same = classes.find(
      (c) => disagreement((c[0] as Replica).envelope, member.envelope, manifest) === undefined,
    );
    if (same) same.push(member);
    else classes.push([member]);
  }
  const found = new Map<number, [Replica, string]>();
  if (classes.length < 2) return found;
  const majority = classes.find((c) => c.length > group.length / 2);
  for (const own of classes) {
    if (own === majority) continue;
    // Against the majority's first member, or, without one, the first member of another class.
    const other = (majority ?? classes.find((c) => c !== own) ?? own)[0] as Replica;
    for (const member of own) {
      // Agreement within a tolerance is not transitive: a member that agrees with it stands.
      const how = disagreement(member.envelope, other.envelope, manifest);
      if (how) found.set(member.id, [other, how]);
    }
  }
  return found;
}

/**
 * Copies, not computations: the numbers of another host's result of another computation (by what
 * the workunits asked for, not what the results claim), or of the same computation down to the
 * millisecond it says it ran.
 */
function duplicateCheck(incoming: Incoming, key: string | undefined, seen: Map<string, Seen>): CheckOutcome {
  const envelope = incoming.entry.envelope;
  const base = { rule: 'duplicate-payload', eligibility: true };
  if (!envelope || Object.keys(envelope.metrics).length === 0) return { ...base, passed: true };
  const fingerprintKey = fingerprint(envelope);
  const first = seen.get(fingerprintKey);
  if (first && first.host !== incoming.name.host) {
    const otherComputation =
      first.key !== undefined && key !== undefined ? first.key !== key : first.seed !== envelope.seed;
    if (otherComputation)
      return {
        ...base,
        passed: false,
        finding: `reports exactly the numbers of result ${first.id} from host ${first.host}, whose workunit asked for another computation (seed or params)`,
      };
    if (first.elapsed !== undefined && first.elapsed === envelope.elapsed_seconds)
      return {
        ...base,
        passed: false,
        finding: `is result ${first.id} from host ${first.host} down to the ${first.elapsed} s it says it ran: a copy, not a second run`,
      };
  }
  if (!first)
    seen.set(fingerprintKey, {
      id: incoming.resultId,
      host: incoming.name.host,
      ...(envelope.seed !== undefined ? { seed: envelope.seed } : {}),
      ...(key !== undefined ? { key } : {}),
      ...(envelope.elapsed_seconds !== undefined ? { elapsed: envelope.elapsed_seconds } : {}),
    });
  return { ...base, passed: true };
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

/**
 * The manifest each result is judged against: the one its workunit was deployed from (its
 * manifest_commit), else today's, with a flag saying so.
 */
async function manifestFor(
  incoming: Incoming,
  current: (experiment: string) => Manifest | undefined,
  manifestAt: ManifestAt,
): Promise<{ manifest?: Manifest; flag?: string }> {
  const commit = incoming.workunit?.manifest_commit;
  const atCommit = commit ? await manifestAt(incoming.name.experiment, commit) : undefined;
  if (atCommit) return { manifest: atCommit };
  const today = current(incoming.name.experiment);
  if (!today) return {};
  return {
    manifest: today,
    flag: commit
      ? `judged against today's manifest: commit ${commit.slice(0, 12)} of the workunit is not in this history`
      : "judged against today's manifest: the workunit names no manifest commit",
  };
}

async function checkAll(
  intake: Incoming[],
  options: CollectOptions,
  record: ResearchRecord,
  fingerprints: Map<string, Seen>,
  setAside: SetAside[],
): Promise<Checked[]> {
  const current = (experiment: string) => record.experiments.find((e) => e.name === experiment)?.manifest;
  const manifestAt = options.manifestAt ?? manifestsFromHistory(options.root, options.validator);
  const subjects: Map<number, CreditSubject> = options.store
    ? await options.store.creditSubjects(intake.map((i) => i.resultId))
    : new Map();
  const checked: Checked[] = [];
  for (const incoming of intake) {
    try {
      const { manifest, flag } = await manifestFor(incoming, current, manifestAt);
      const boinc = subjects.get(incoming.resultId);
      const context: CheckContext = {
        incoming,
        validator: options.validator,
        databaseConnected: options.store !== undefined,
        ...(manifest ? { manifest } : {}),
        ...(boinc ? { boinc } : {}),
      };
      const key = incoming.workunit ? replicaKey(incoming.workunit) : undefined;
      const checks = [...checkResult(context), duplicateCheck(incoming, key, fingerprints)];
      checked.push({
        incoming,
        ...(key ? { key } : {}),
        ...(manifest ? { manifest } : {}),
        ...(boinc ? { boinc } : {}),
        checks,
        flags: [...flagResult(context), ...(flag ? [flag] : [])],
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

/**
 * Results of the same computation (experiment, script, seed and params, as their workunits said)
 * must agree within the manifest's tolerances: with the first valid complete result of it already
 * in the record or an open results pull request, else with each other. One that does not is
 * suspicious and paid nothing until a person looks; the flag names the other result, the first
 * value that differs and where the two environments differ. Agreement is recorded as a check.
 */
function compareReplicas(
  checked: Checked[],
  judgements: Map<number, Judgement>,
  earlier: ReadonlyMap<string, Replica>,
): void {
  const groups = new Map<string, { c: Checked; replica: Replica }[]>();
  for (const c of checked) {
    const { envelope } = c.incoming.entry;
    const { key } = c;
    if (!c.eligible || !key || !comparable(envelope)) continue;
    const replica: Replica = {
      id: c.incoming.resultId,
      host: c.boinc?.hostId ?? c.incoming.name.host,
      envelope,
      ...(c.incoming.entry.client?.environment ? { environment: c.incoming.entry.client.environment } : {}),
      where: 'this run',
    };
    groups.set(key, [...(groups.get(key) ?? []), { c, replica }]);
  }
  for (const [key, group] of groups) {
    const manifest = group[0]?.c.manifest;
    const reference = earlier.get(key);
    // An earlier valid result of the computation is the reference; without one, the run's own majority.
    const found = reference
      ? new Map(
          group.flatMap(({ replica }): [number, [Replica, string]][] => {
            const how = disagreement(reference.envelope, replica.envelope, manifest);
            return how ? [[replica.id, [reference, how]]] : [];
          }),
        )
      : disagreements(
          group.map((g) => g.replica),
          manifest,
        );
    const all = reference ? [reference, ...group.map((g) => g.replica)] : group.map((g) => g.replica);
    if (all.length < 2) continue;
    for (const { c, replica } of group) {
      const others = all.filter((r) => r.id !== replica.id);
      const problem = found.get(replica.id);
      const judgement = judgements.get(replica.id);
      if (problem) {
        const [other, how] = problem;
        const finding = `disagrees with result ${other.id} (host ${other.host}, ${other.where}), which ran the same computation: ${how}; ${environmentContrast(replica.environment, other.environment)}`;
        c.checks.push({ rule: 'replicas', passed: false, eligibility: false, finding });
        if (judgement) {
          judgement.verdict = 'suspicious';
          judgement.flags.push(`replicas: ${finding}`);
        }
      } else
        c.checks.push({
          rule: 'replicas',
          passed: true,
          eligibility: false,
          finding: `agrees with ${others.length === 1 ? 'result' : 'results'} ${others.map((o) => `${o.id} (host ${o.host})`).join(', ')} within the manifest's tolerances`,
        });
    }
  }
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

function collectedOf(c: Checked, judgement: Judgement): Collected {
  const { incoming } = c;
  judgement.flags.push(...c.flags);
  const workShare = workShareOf(incoming.entry.envelope);
  const full = proposeCredit(c.manifest?.credit_cap ?? 0, judgement, c.eligible);
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
 * workunit asked for, asks the judge about the eligible ones, and decides credit in code. What
 * cannot be read or judged is set aside; every other result goes on.
 */
export async function collect(options: CollectOptions): Promise<CollectOutcome> {
  // The record is read once: it answers what is collected already, gives the manifests, and the plots
  // of this run are drawn with it.
  const record = readResearchRecord(options.root, options.validator);
  const existing = existingOf(record);
  const intake = readSpool(
    options.spoolDir,
    new Set([...existing.ids, ...options.proposed.results]),
    options.validator,
  );
  if (intake.incoming.length >= 500)
    options.progress?.(`collect: ${intake.incoming.length} new results, ${intake.skipped} already collected`);
  const setAside = [...intake.setAside];
  const checked = await checkAll(intake.incoming, options, record, existing.fingerprints, setAside);
  const judgements = await judgeEligible(checked, options.judge);
  // A result the judge could not answer now stays in the spool: not collected, judged next run.
  const answered = checked.filter(
    (c) => !(judgements.has(c.incoming.resultId) && !judgements.get(c.incoming.resultId)),
  );
  const deferred = checked.length - answered.length;
  if (deferred > 0)
    options.progress?.(`collect: ${deferred} results got no answer from the judge; they wait in the spool`);
  compareReplicas(
    answered,
    judgements as Map<number, Judgement>,
    new Map([...(options.proposed.replicas ?? new Map()), ...existing.replicas]),
  );
  const collected = answered.map((c) =>
    collectedOf(c, judgements.get(c.incoming.resultId) ?? ineligible(c.checks)),
  );
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
    problems: intake.problems,
    record,
  };
}
