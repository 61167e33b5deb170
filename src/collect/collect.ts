import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BoincStore, CreditSubject } from '../boinc/store.js';
import type { SanitisedEnvelope } from '../envelope/envelope.js';
import { EMPTY_ENVELOPE } from '../envelope/envelope.js';
import type { ProposalFile } from '../forge/forge.js';
import { fileAtCommit } from '../forge/git.js';
import { parseManifest } from '../manifest/load.js';
import type { Manifest } from '../manifest/types.js';
import type { Problem } from '../problems.js';
import { type ResearchRecord, readResearchRecord } from '../record/research.js';
import { RESULTS_DIR } from '../record/review.js';
import type { SchemaValidator } from '../schema/validate.js';
import {
  agree,
  type CheckContext,
  type CheckOutcome,
  checkResult,
  fingerprint,
  flagResult,
} from './checks.js';
import { type Incoming, readSpool } from './intake.js';
import { capPerHostDay, ineligible, type Judgement, proposeCredit, type ResultJudge } from './judge.js';
import { type Collected, creditFile, resultFiles } from './record.js';

/** The manifest of an experiment as it was at a commit; undefined when the history does not have it. */
export type ManifestAt = (experiment: string, commit: string) => Promise<Manifest | undefined>;

export interface CollectOptions {
  root: string;
  spoolDir: string;
  /** Results already proposed in the open results pull request. */
  proposed: ReadonlySet<number>;
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
  skipped: number;
  files: ProposalFile[];
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

/** What the record on this checkout already holds: result ids, fingerprints, credit per host and day. */
function existingOf(root: string, record: ResearchRecord) {
  // Every result folder counts as collected, even one whose files cannot be read.
  const ids = new Set<number>();
  const base = join(root, RESULTS_DIR);
  for (const experiment of existsSync(base) ? readdirSync(base, { withFileTypes: true }) : []) {
    if (!experiment.isDirectory() || experiment.name === 'credit') continue;
    for (const dir of readdirSync(join(base, experiment.name)))
      if (/^[0-9]{1,12}$/.test(dir)) ids.add(Number(dir));
  }
  const fingerprints = new Map<string, { id: number; host: number; seed?: number }>();
  const hostDay = new Map<string, number>();
  for (const result of record.experiments.flatMap((e) => e.results)) {
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
  }
  return { ids, fingerprints, hostDay };
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
): Promise<Checked[]> {
  const current = (experiment: string) => record.experiments.find((e) => e.name === experiment)?.manifest;
  const manifestAt = options.manifestAt ?? manifestsFromHistory(options.root, options.validator);
  const subjects: Map<number, CreditSubject> = options.store
    ? await options.store.creditSubjects(intake.map((i) => i.resultId))
    : new Map();
  const checked: Checked[] = [];
  for (const incoming of intake) {
    const { manifest, flag } = await manifestFor(incoming, current, manifestAt);
    const boinc = subjects.get(incoming.resultId);
    const context: CheckContext = {
      incoming,
      validator: options.validator,
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
  }
  return checked;
}

async function judgeEligible(checked: Checked[], judge: ResultJudge): Promise<Map<number, Judgement>> {
  const toJudge = checked.filter((c) => c.eligible && c.manifest && c.incoming.entry.envelope);
  const judgements = await judge.judge(
    toJudge.map((c) => ({
      resultId: c.incoming.resultId,
      envelope: c.incoming.entry.envelope as SanitisedEnvelope,
      manifest: c.manifest as Manifest,
      checks: c.checks,
    })),
  );
  return new Map(toJudge.map((c, i) => [c.incoming.resultId, judgements[i] as Judgement]));
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

function collectedOf(c: Checked, judgement: Judgement): Collected {
  const { incoming } = c;
  judgement.flags.push(...c.flags);
  return {
    resultId: incoming.resultId,
    workunit: incoming.name.name,
    experiment: incoming.name.experiment,
    host: c.boinc?.hostId ?? incoming.entry.host_id ?? incoming.name.host,
    user: c.boinc?.userId ?? incoming.entry.user_id ?? 0,
    team: c.boinc?.teamId ?? 0,
    receivedAt: incoming.entry.received_at,
    envelope: incoming.entry.envelope ?? EMPTY_ENVELOPE,
    ...(c.manifest ? { manifest: c.manifest } : {}),
    checks: c.checks,
    eligible: c.eligible,
    judgement,
    credit: proposeCredit(c.manifest?.credit_cap ?? 0, judgement, c.eligible),
    isolation: incoming.entry.client?.isolation ?? 'unknown',
    ...(incoming.entry.client ? { client: incoming.entry.client } : {}),
    ...(judgement.provenance ? { provenance: judgement.provenance } : {}),
  };
}

/**
 * One collection run: reads the spool, checks every new result by the rules against what its
 * workunit asked for, asks the judge about the eligible ones, decides credit in code, and returns
 * the files of the results pull request.
 */
export async function collect(options: CollectOptions): Promise<CollectOutcome> {
  // The record is read once: it answers what is collected already, gives the manifests, and the plots
  // of this run are drawn with it.
  const record = readResearchRecord(options.root, options.validator);
  const existing = existingOf(options.root, record);
  const intake = readSpool(
    options.spoolDir,
    new Set([...existing.ids, ...options.proposed]),
    options.validator,
  );
  if (intake.incoming.length >= 500)
    options.progress?.(`collect: ${intake.incoming.length} new results, ${intake.skipped} already collected`);
  const checked = await checkAll(intake.incoming, options, record, existing.fingerprints);
  const judgements = await judgeEligible(checked, options.judge);
  flagDisagreeingReplicas(checked, judgements);
  const collected = checked.map((c) =>
    collectedOf(c, judgements.get(c.incoming.resultId) ?? ineligible(c.checks)),
  );
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
  const files = collected.flatMap((item) => resultFiles(item, options.run));
  if (collected.length > 0) files.push(creditFile(collected, options.run, options.judge.name));
  return { run: options.run, collected, skipped: intake.skipped, files, problems: intake.problems, record };
}
