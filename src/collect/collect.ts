import type { BoincStore, CreditSubject } from '../boinc/store.js';
import { outcomeOf } from '../envelope/acceptance.js';
import type { SanitisedEnvelope } from '../envelope/envelope.js';
import { EMPTY_ENVELOPE } from '../envelope/envelope.js';
import { fileAtCommit } from '../forge/git.js';
import { parseManifest } from '../manifest/load.js';
import type { Manifest } from '../manifest/types.js';
import type { Problem } from '../problems.js';
import { type ResearchRecord, readResearchRecord } from '../record/research.js';
import type { SchemaValidator } from '../schema/validate.js';
import {
  agree,
  type CheckContext,
  type CheckOutcome,
  checkResult,
  fingerprint,
  flagResult,
} from './checks.js';
import { type Incoming, readSpool, type SetAside } from './intake.js';
import { capPerHostDay, ineligible, type Judgement, proposeCredit, type ResultJudge } from './judge.js';
import type { Collected } from './record.js';

/** What open results pull requests already propose: their results, and the workunits they pay. */
export interface Proposed {
  results: ReadonlySet<number>;
  /** Workunit → the result it is paid through. */
  paidWorkunits: ReadonlyMap<string, number>;
}

export const NOTHING_PROPOSED: Proposed = { results: new Set(), paidWorkunits: new Map() };

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
  const fingerprints = new Map<string, { id: number; host: number; seed?: number }>();
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
    });
    const key = `${review.host} ${review.received_at.slice(0, 10)}`;
    hostDay.set(key, (hostDay.get(key) ?? 0) + review.proposed_credit);
    if ((result.credit ?? review.proposed_credit) > 0 && !paidWorkunits.has(review.workunit))
      paidWorkunits.set(review.workunit, result.id);
  }
  return { ids, fingerprints, hostDay, paidWorkunits };
}

/**
 * Pairs (member, a result it disagrees with) in a group of same-seed replicas. Everyone is first
 * compared with the first replica, so a group that agrees, the usual case, costs one pass; only the
 * few that disagree are compared with the rest.
 */
function disagreements(group: readonly { id: number; envelope: SanitisedEnvelope }[]): [number, number][] {
  const [reference, ...rest] = group;
  if (!reference) return [];
  const outliers = rest.filter((m) => !agree(reference.envelope, m.envelope));
  if (outliers.length === 0) return [];
  return group.flatMap((member): [number, number][] => {
    if (member === reference) return [[member.id, (outliers[0] as { id: number }).id]];
    if (outliers.includes(member)) return [[member.id, reference.id]];
    const other = outliers.find((o) => !agree(o.envelope, member.envelope));
    return other ? [[member.id, other.id]] : [];
  });
}

/** Same payload from different hosts with different seeds: copies, not computations. */
function duplicateCheck(
  incoming: Incoming,
  seen: Map<string, { id: number; host: number; seed?: number }>,
): CheckOutcome {
  const envelope = incoming.entry.envelope;
  const base = { rule: 'duplicate-payload', eligibility: true };
  if (!envelope || Object.keys(envelope.metrics).length === 0) return { ...base, passed: true };
  const key = fingerprint(envelope);
  const first = seen.get(key);
  if (first && first.host !== incoming.name.host && first.seed !== envelope.seed)
    return {
      ...base,
      passed: false,
      finding: `reports exactly the numbers of result ${first.id} from host ${first.host}, which ran another seed`,
    };
  if (!first)
    seen.set(key, {
      id: incoming.resultId,
      host: incoming.name.host,
      ...(envelope.seed !== undefined ? { seed: envelope.seed } : {}),
    });
  return { ...base, passed: true };
}

interface Checked {
  incoming: Incoming;
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
  fingerprints: Map<string, { id: number; host: number; seed?: number }>,
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
      const checks = [...checkResult(context), duplicateCheck(incoming, fingerprints)];
      checked.push({
        incoming,
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
 * Replicas that ran the same computation (script, seed and params, as their workunits said) must
 * agree; when they do not, none of them is paid until a person looks.
 */
function flagDisagreeingReplicas(checked: Checked[], judgements: Map<number, Judgement>): void {
  const groups = new Map<string, { id: number; envelope: SanitisedEnvelope }[]>();
  for (const c of checked) {
    const { envelope } = c.incoming.entry;
    const wu = c.incoming.workunit;
    if (!c.eligible || !envelope || !wu) continue;
    const key = `${wu.experiment} ${wu.seed} ${wu.script_sha256} ${JSON.stringify(wu.params)}`;
    groups.set(key, [...(groups.get(key) ?? []), { id: c.incoming.resultId, envelope }]);
  }
  for (const group of groups.values())
    for (const [member, other] of disagreements(group)) {
      const judgement = judgements.get(member);
      if (!judgement) continue;
      judgement.verdict = 'suspicious';
      judgement.flags.push(`disagrees with result ${other}, which ran the same seed and params`);
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
    outcome: outcomeOf(
      incoming.entry.envelope ?? EMPTY_ENVELOPE,
      c.manifest,
      incoming.entry.verdict === 'accepted',
    ),
    credit: workShare === undefined ? full : Math.round(full * workShare),
    ...(workShare !== undefined ? { workShare } : {}),
    ...runtimeOf(c),
    ...(incoming.workunit?.manifest_commit ? { manifestCommit: incoming.workunit.manifest_commit } : {}),
    ...(incoming.workunit ? { scriptSha256: incoming.workunit.script_sha256 } : {}),
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
  flagDisagreeingReplicas(answered, judgements as Map<number, Judgement>);
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
